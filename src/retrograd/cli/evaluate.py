"""`retrograd evaluate` and `retrograd predict`: a trained run directory applied to data files."""
import csv
import io
import sys
from pathlib import Path

import numpy as np

from .. import data as rgdata
from .config import ConfigError
from .dataset import held_out, to_model_targets
from .report import describe_score, labels_from_outputs, score
from .rundir import Run
from .setup import build_loss, predict_outputs
from .tasks import decode_labels


def load_eval_data(run, data_path=None, target=None):
    """(X, y, source): a given CSV/TSV/NPZ file, or else the test part of the run's own data.

    X is scaled as in training; y is in model units (class indices, 0/1 columns, or regression
    targets in the data's own units).
    """
    cfg = run.config["data"]
    info = run.info
    if data_path is None:
        X, y, source = held_out(run.config, info)
    else:
        if Path(data_path).suffix.lower() == ".npz":
            X, y = rgdata.load_npz(data_path, x_key=cfg["x_key"], y_key=cfg["y_key"])
            X = X.reshape(len(X), -1)
        else:
            target = target if target is not None else cfg["target"]
            X, y, names = rgdata.load_csv(data_path, target=target, delimiter=cfg["delimiter"],
                                          header=cfg["header"], return_names=True)
            X = _select_columns(X, names, info, data_path)
        source = str(data_path)
        y = to_model_targets(y, info["task"], info.get("classes"), info["n_outputs"], source)
    rgdata.check_features(X, info["n_inputs"], source)
    scaler = run.scaler()
    if scaler is not None:
        X = scaler.transform(X)
    dtype = np.dtype(run.config["model"]["dtype"])
    if info["task"] == "binary":
        y = np.asarray(y, dtype=dtype)
    return X.astype(dtype), y, source


def _select_columns(X, names, info, path):
    """Reorder/select the file's columns to the training features when their names are known."""
    wanted = info.get("feature_names") or []
    if wanted and list(names) != list(wanted) and set(wanted) <= set(names):
        return X[:, [names.index(w) for w in wanted]]
    if wanted and len(names) == len(wanted) and list(names) != list(wanted) and not set(names) & set(wanted):
        return X                                   # unnamed columns of the right count: take in order
    if wanted and list(names) != list(wanted):
        missing = [w for w in wanted if w not in names]
        raise rgdata.DataError(f"columns {names} do not match the model's features {wanted}"
                               + (f"; missing {missing}" if missing else ""), path)
    return X


def run_evaluate(run_dir, data_path=None, target=None, as_json=False, out=print):
    """Score a run on its own test split or a labelled file; prints one line (or one JSON object)."""
    import json
    run = Run(run_dir)
    model = run.model()
    X, y, source = load_eval_data(run, data_path, target)
    loss_fn = build_loss(run.config, run.info["loss"])
    result, _ = score(model, loss_fn, X, y, run.info["task"], run.info["threshold"], run.target_scaling(),
                      run.info.get("target_mean"))
    result["data"] = source
    if as_json:
        out(json.dumps(result))
    else:
        out(f"{source}: {result['n']} examples, {describe_score(result)}")
    return 0


def run_predict(run_dir, input_path, output_path=None, header=True, out=None):
    """Predictions for every row of a CSV/TSV of features, as CSV (to a file, or stdout)."""
    run = Run(run_dir)
    model = run.model()
    names, table = _read_features(run, input_path, header)
    info = run.info
    X = _select_columns(table, names, info, input_path) if header else table
    rgdata.check_features(X, info["n_inputs"], input_path)
    scaler = run.scaler()
    if scaler is not None:
        X = scaler.transform(X)
    outputs = predict_outputs(model, X.astype(np.dtype(run.config["model"]["dtype"])))
    scaling = run.target_scaling()
    if info["task"] == "regression" and scaling is not None:
        outputs = scaling.unscale(outputs)
    columns, rows = _prediction_table(outputs, info)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    if output_path:
        from ..io.atomic import atomic_write
        with atomic_write(output_path) as handle:
            handle.write(buffer.getvalue().encode("utf-8"))
    else:
        (out or sys.stdout).write(buffer.getvalue())
    return 0


def _read_features(run, input_path, header):
    """(column names, feature table) of a predict input; a labelled file's target column is dropped,
    whether it holds numbers or text labels."""
    cfg = run.config["data"]
    target = cfg["target"]
    info = run.info
    if header and isinstance(target, str):
        try:
            X, _, names = rgdata.load_csv(input_path, target=target, delimiter=cfg["delimiter"], header=True,
                                          dtype=np.float64, return_names=True)
            if len(names) == info["n_inputs"]:
                return names, X
        except rgdata.DataError as exc:
            if "no target column" not in str(exc):
                raise
    return rgdata.read_table(input_path, delimiter=cfg["delimiter"], header=header)


def _prediction_table(outputs, info):
    task, threshold = info["task"], info["threshold"]
    predicted = labels_from_outputs(outputs, task, threshold)
    classes = info.get("classes")
    if task == "classification":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        labels = decode_labels(predicted, classes)
        columns = ["prediction"] + [f"p_{c}" for c in (classes or range(outputs.shape[1]))]
        return columns, [[label] + [f"{v:.6g}" for v in row] for label, row in zip(labels, probs)]
    if task == "binary":
        probs = 1 / (1 + np.exp(-outputs)) if threshold == 0.0 else outputs
        k = outputs.shape[1]
        names = ["prediction"] if k == 1 else [f"prediction_{j}" for j in range(k)]
        names += ["probability"] if k == 1 else [f"probability_{j}" for j in range(k)]
        predicted = predicted.reshape(len(outputs), -1)
        if classes and k == 1:
            return names, [[classes[int(p[0])]] + [f"{v:.6g}" for v in q] for p, q in zip(predicted, probs)]
        return names, [[int(v) for v in p] + [f"{v:.6g}" for v in q] for p, q in zip(predicted, probs)]
    k = outputs.shape[1]
    names = ["prediction"] if k == 1 else [f"prediction_{j}" for j in range(k)]
    return names, [[f"{v:.6g}" for v in row] for row in outputs]


def require_file(path, what):
    if not Path(path).exists():
        raise ConfigError(f"{what} {path} does not exist")
