"""`retrograd evaluate` and `retrograd predict`: a trained run directory applied to data files."""
import csv
import io
import sys
from pathlib import Path

import numpy as np

from .. import data as rgdata
from .config import ConfigError
from .report import labels_from_outputs, score
from .rundir import Run
from .setup import build_loss, load_raw, predict_outputs


def _targets_for_model(y, info, source):
    """Labels or target columns checked against the model's outputs."""
    if info["task"] == "classification":
        return rgdata.check_labels(y, info["n_outputs"], source)
    return rgdata.check_targets(y, info["n_outputs"], source).astype(np.float32)


def load_eval_data(run, data_path=None, target=None):
    """(X, y, source): a given CSV/TSV/NPZ file, or else the test part of the run's own data."""
    cfg = run.config["data"]
    if data_path is None:
        _, _, X, y, _, source = load_raw(cfg)
        source = f"{source} (test split)"
    elif Path(data_path).suffix.lower() == ".npz":
        X, y = rgdata.load_npz(data_path, x_key=cfg["x_key"], y_key=cfg["y_key"])
        X, source = X.reshape(len(X), -1), str(data_path)
    else:
        target = target if target is not None else cfg["target"]
        X, y, names = rgdata.load_csv(data_path, target=target, delimiter=cfg["delimiter"], header=cfg["header"],
                                      return_names=True)
        X, source = _select_columns(X, names, run.info, data_path), str(data_path)
    rgdata.check_features(X, run.info["n_inputs"], source)
    scaler = run.scaler()
    if scaler is not None:
        X = scaler.transform(X)
    return X.astype(np.dtype(run.config["model"]["dtype"])), _targets_for_model(y, run.info, source), source


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
    import json
    run = Run(run_dir)
    model = run.model()
    X, y, source = load_eval_data(run, data_path, target)
    loss_fn = build_loss(run.config, run.info["loss"])
    result, _ = score(model, loss_fn, X, y, run.info["task"], run.info["threshold"])
    result["data"] = source
    if as_json:
        out(json.dumps(result))
    else:
        metric = "accuracy" if "accuracy" in result else "rmse"
        out(f"{source}: {result['n']} examples, loss {result['loss']:.6g}, {metric} {result[metric]:.4f}")
    return 0


def run_predict(run_dir, input_path, output_path=None, header=True, out=sys.stdout):
    """Predictions for every row of a CSV/TSV of features, as CSV (to a file, or stdout)."""
    run = Run(run_dir)
    model = run.model()
    names, table = rgdata.read_table(input_path, delimiter=run.config["data"]["delimiter"], header=header)
    info = run.info
    target = run.config["data"]["target"]
    if header and isinstance(target, str) and target in names and len(names) == info["n_inputs"] + 1:
        keep = [j for j, n in enumerate(names) if n != target]     # a labelled file: ignore the target
        table, names = table[:, keep], [names[j] for j in keep]
    X = _select_columns(table, names, info, input_path) if header else table
    rgdata.check_features(X, info["n_inputs"], input_path)
    scaler = run.scaler()
    if scaler is not None:
        X = scaler.transform(X)
    outputs = predict_outputs(model, X.astype(np.dtype(run.config["model"]["dtype"])))
    columns, rows = _prediction_table(outputs, info)
    handle = open(output_path, "w", newline="", encoding="utf-8") if output_path else io.StringIO()
    writer = csv.writer(handle)
    writer.writerow(columns)
    writer.writerows(rows)
    if output_path:
        handle.close()
    else:
        out.write(handle.getvalue())
    return 0


def _prediction_table(outputs, info):
    task, threshold = info["task"], info["threshold"]
    predicted = labels_from_outputs(outputs, task, threshold)
    if task == "classification":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        columns = ["prediction"] + [f"p_{k}" for k in range(outputs.shape[1])]
        return columns, [[int(p)] + [f"{v:.6g}" for v in row] for p, row in zip(predicted, probs)]
    if task == "binary":
        probs = 1 / (1 + np.exp(-outputs)) if threshold == 0.0 else outputs
        k = outputs.shape[1]
        names = ["prediction"] if k == 1 else [f"prediction_{j}" for j in range(k)]
        names += ["probability"] if k == 1 else [f"probability_{j}" for j in range(k)]
        predicted = predicted.reshape(len(outputs), -1)
        return names, [[int(v) for v in p] + [f"{v:.6g}" for v in q] for p, q in zip(predicted, probs)]
    k = outputs.shape[1]
    names = ["prediction"] if k == 1 else [f"prediction_{j}" for j in range(k)]
    return names, [[f"{v:.6g}" for v in row] for row in outputs]


def require_file(path, what):
    if not Path(path).exists():
        raise ConfigError(f"{what} {path} does not exist")
