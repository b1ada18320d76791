"""The sections of report.html: metrics with baselines, curves, confusion matrix, boundary, weights, norms, data, timing.

Each function returns an HTML fragment (a <section>) or "" when it does not
apply to the run, built from the run directory's files and, where the data
can be loaded again, the model's outputs on the test split.
"""
import json
import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import html_charts as hc

MAX_CLASSES = 20          # a larger confusion matrix keeps the 19 most frequent classes and an "other"
MAX_UNITS = 64            # first-layer weight images shown
MAX_POINTS = 600          # scatter points over a decision boundary


@dataclass
class ReportData:
    """The run's data as far as it could be loaded again, and the model's outputs on the test split."""
    y_train: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    X_train_raw: Optional[np.ndarray] = None
    X_train: Optional[np.ndarray] = None       # scaled, as the model saw it
    outputs: Optional[np.ndarray] = None       # model outputs on the test split
    model: Any = None
    source: str = ""
    problem: str = ""                          # why the data could not be loaded, if so
    baseline: Dict[str, float] = field(default_factory=dict)


def load_report_data(run: Any) -> ReportData:
    """Load the model and the run's data again (deterministically, as train did); on failure say why."""
    from ..data.errors import DataError
    from .config import ConfigError
    from .dataset import reload_splits
    from .errors import MissingPackageError
    from .setup import predict_outputs
    data = ReportData()
    try:
        data.model = run.model()           # a damaged model file is a RunError: the command fails, naming it
    except (ConfigError, OSError, ValueError, KeyError) as exc:
        data.problem = f"the model could not be loaded: {exc}"
        return data
    try:
        X_tr, y_tr, X_te, y_te, source = reload_splits(run.config, run.info)
    except (ConfigError, DataError, OSError, ImportError, ValueError, MissingPackageError) as exc:
        data.problem = f"the data could not be loaded again ({exc}); data-dependent sections are left out"
        return data
    info = run.info
    dtype = np.dtype(run.config["model"].get("dtype", "float32"))
    if info["task"] == "classification":
        y_tr, y_te = np.asarray(y_tr).astype(np.int64), np.asarray(y_te).astype(np.int64)
    else:
        y_tr = np.asarray(y_tr, np.float64).reshape(len(y_tr), -1)
        y_te = np.asarray(y_te, np.float64).reshape(len(y_te), -1)
    scaler = run.scaler()
    Xs_tr = scaler.transform(X_tr) if scaler is not None else X_tr
    Xs_te = scaler.transform(X_te) if scaler is not None else X_te
    data.y_train, data.y_test, data.source = y_tr, y_te, str(source)
    data.X_train_raw, data.X_train = np.asarray(X_tr), np.asarray(Xs_tr, dtype)
    data.outputs = predict_outputs(data.model, np.asarray(Xs_te, dtype))
    scaling = run.target_scaling()         # regression outputs back in the data's units
    if info["task"] == "regression" and scaling is not None:
        data.outputs = scaling.unscale(data.outputs)
    data.baseline = baselines(info, y_tr, y_te)
    return data


def baselines(info: Dict[str, Any], y_train: np.ndarray, y_test: np.ndarray) -> Dict[str, float]:
    """What a model that ignores its input scores on the test split, with the library's own metrics.

    Classification: always the most frequent training class (accuracy) and the
    training class frequencies as probabilities (cross-entropy). Regression:
    always the training mean (RMSE).
    """
    from ..training.metrics import accuracy, rmse
    n = len(y_test)
    if n == 0:
        return {}
    if info["task"] == "classification":
        k = info["n_outputs"]
        freq = np.bincount(y_train, minlength=k)[:k] / max(len(y_train), 1)
        const = np.tile(np.eye(k)[np.argmax(freq)], (n, 1))
        prior = np.clip(freq[np.clip(y_test, 0, k - 1)], 1e-12, None)
        return {"accuracy": accuracy(const, y_test), "cross_entropy": float(-np.mean(np.log(prior)))}
    if info["task"] == "binary":
        if y_train.shape[1] == 1:
            majority = float(np.mean(y_train > 0.5) > 0.5)
            return {"accuracy": accuracy(np.full((n, 1), majority), y_test, threshold=0.5)}
        const = np.tile(np.eye(y_train.shape[1])[np.argmax(np.bincount(np.argmax(y_train, 1)))], (n, 1))
        return {"accuracy": accuracy(const, np.argmax(y_test, 1))}
    r = rmse(np.tile(y_train.mean(axis=0), (n, 1)), y_test)
    return {"rmse": r, "mse": r * r}


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    return f"<section><h2>{escape(title)}</h2>{note_html}{body}</section>"


# ---------------------------------------------------------------------------- metrics and curves
def metrics_section(info: Dict[str, Any], data: ReportData, history: Dict[str, List[Any]]) -> str:
    rows = []
    train, test = info.get("train", {}), info.get("test", {})
    for key in [k for k in ("loss", "accuracy", "rmse") if k in test]:
        base = data.baseline.get(key if key != "loss" else info.get("loss", ""), None)
        verdict = ""
        if base is not None and key in ("accuracy", "rmse"):
            better = test[key] > base if key == "accuracy" else test[key] < base
            verdict = (f'<span class="{"good" if better else "bad"}">'
                       f'{"better" if better else "no better"} than the baseline</span>')
        rows.append(f"<tr><td>{key}</td><td>{train.get(key, float('nan')):.5g}</td><td>{test[key]:.5g}</td>"
                    f"<td>{'' if base is None else f'{base:.5g}'}</td><td>{verdict}</td></tr>")
    table = ("<table><tr><th>metric</th><th>train</th><th>test</th><th>baseline (test)</th><th></th></tr>"
             + "".join(rows) + "</table>")
    note = ("Baseline: a model that ignores its input, i.e. always the most frequent training class "
            "(accuracy) or the class frequencies (loss); always the training mean (RMSE).")
    if info.get("dataset") in ("xor", "parity", "encoder", "two_spirals", "symmetry"):
        note += " This classic problem has no test set: test = training set."
    if data.problem:
        note += " " + escape(data.problem)
    return _section("Final metrics", table, note)


def curves_section(history: Dict[str, List[Any]], data: ReportData) -> str:
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    if not len(epochs):
        return ""
    charts = []
    loss = [hc.Series("training loss", epochs, history["loss"])]
    if "val_loss" in history:
        loss.append(hc.Series("validation loss", epochs, history["val_loss"], dashed=True))
    charts.append(hc.line_chart(loss, "Loss per epoch", ylabel="loss"))
    metric_keys = [k for k in history if k not in ("loss", "val_loss", "lr", "time") and not k.startswith("val_")]
    for key in metric_keys:
        series = [hc.Series(f"training {key}", epochs, history[key])]
        if f"val_{key}" in history:
            series.append(hc.Series(f"validation {key}", epochs, history[f"val_{key}"], dashed=True))
        base = data.baseline.get(key)
        hl = [(base, f"baseline {base:.3g}", "#7f7f7f")] if base is not None else []
        charts.append(hc.line_chart(series, f"{key} per epoch", ylabel=key, log_y=False, hlines=hl))
    note = "Training values are measured after each epoch's updates; dashed lines are validation."
    rates = [v for v in history.get("lr", []) if v is not None]
    if rates and max(rates) > min(rates):
        charts.append(hc.line_chart([hc.Series("learning rate", epochs, history["lr"], color="#9467bd")],
                                    "Learning rate (at the start of each epoch)", ylabel="lr"))
    elif rates:
        note += f" The learning rate was {rates[0]:.4g} throughout."
    return _section("Training curves", f'<div class="row">{"".join(charts)}</div>', note)


# ---------------------------------------------------------------------------- confusion matrix
def _predicted_labels(info: Dict[str, Any], outputs: np.ndarray) -> np.ndarray:
    if outputs.shape[1] > 1:
        return np.argmax(outputs, axis=1)
    return (outputs[:, 0] > info.get("threshold", 0.5)).astype(np.int64)


def fit_section(info: Dict[str, Any], data: ReportData) -> str:
    """Regression: predictions against targets on the test split, one chart per output (at most 4)."""
    if info["task"] != "regression" or data.outputs is None or data.y_test is None or not len(data.y_test):
        return ""
    pick = np.arange(len(data.y_test))
    if len(pick) > MAX_POINTS:
        pick = np.sort(np.random.default_rng(0).choice(len(pick), MAX_POINTS, replace=False))
    charts = [hc.scatter_chart(data.y_test[pick, j], data.outputs[pick, j],
                               f"Test predictions, output {j}" if data.y_test.shape[1] > 1 else "Test predictions",
                               "target", "prediction") for j in range(min(data.y_test.shape[1], 4))]
    return _section("Predictions against targets", f'<div class="row">{"".join(charts)}</div>',
                    f"{len(data.y_test)} test examples" + (f" ({len(pick)} shown)" if len(pick) < len(data.y_test)
                                                           else "") + "; on the dashed line a prediction is exact.")


def confusion_section(info: Dict[str, Any], data: ReportData) -> str:
    if info["task"] == "regression" or data.outputs is None or data.y_test is None or not len(data.y_test):
        return ""
    y = data.y_test
    if y.ndim == 2:
        y = np.argmax(y, axis=1) if y.shape[1] > 1 else (y[:, 0] > 0.5).astype(np.int64)
    pred = _predicted_labels(info, data.outputs)
    k = max(int(info["n_outputs"]), 2, int(y.max()) + 1, int(pred.max()) + 1)
    names = info.get("class_names") or [str(c) for c in range(k)]
    counts = np.zeros((k, k), np.int64)
    np.add.at(counts, (y, pred), 1)
    note = f"{len(y)} test examples; rows are the true class, columns the prediction, colour the row's fraction."
    if k > MAX_CLASSES:                     # keep the most frequent classes, fold the rest into "other"
        keep = np.sort(np.argsort(-counts.sum(axis=1), kind="stable")[:MAX_CLASSES - 1])
        index = np.full(k, MAX_CLASSES - 1)
        index[keep] = np.arange(len(keep))
        small = np.zeros((MAX_CLASSES, MAX_CLASSES), np.int64)
        np.add.at(small, (index[y], index[pred]), 1)
        counts, names = small, [names[c] for c in keep] + ["other"]
        note += f" {k} classes: the {MAX_CLASSES - 1} most frequent are shown, the rest are folded into 'other'."
    cell = 34 if len(names) <= 12 else 26
    chart = hc.matrix_chart(counts, [str(n) for n in names], "Confusion matrix (test)", cell=cell)
    per_class = counts.diagonal() / np.maximum(counts.sum(axis=1), 1)
    worst = [c for c in np.argsort(per_class, kind="stable")[:3] if per_class[c] < 1 and counts[c].sum()]
    if worst:
        note += " Hardest classes (recall): " + ", ".join(f"{escape(str(names[c]))} ({per_class[c]:.0%})"
                                                         for c in worst) + "."
    return _section("Confusion matrix", chart, note)


# ---------------------------------------------------------------------------- decision boundary
def _boundary_image(z: np.ndarray, factor: int = 4, levels: int = 10) -> np.ndarray:
    """Probability on the grid -> RGB bands (blue class 0, red class 1) with the 0.5 contour in black, y up.

    The bands (``levels`` of them, like a filled contour plot) also keep the PNG small: flat
    runs compress about 4x better than a smooth gradient.
    """
    fine = hc.upsample(np.asarray(z, np.float64), factor)
    banded = (np.floor(np.clip(fine, 0, 1 - 1e-9) * levels) + 0.5) / levels
    rgb = hc.diverging(banded - 0.5, 0.5)
    side = fine > 0.5
    edge = np.zeros_like(side)
    edge[:-1] |= side[:-1] != side[1:]
    edge[:, :-1] |= side[:, :-1] != side[:, 1:]
    rgb[edge] = (20, 20, 20)
    return rgb[::-1]                        # row 0 of the grid is the lowest y: the image's bottom


FRAME = 360          # the coordinate system of the boundary images and dots, shown at any size via viewBox


def _boundary_defs(images: List[np.ndarray], xx: np.ndarray, yy: np.ndarray, X: Optional[np.ndarray],
                   y: Optional[np.ndarray]) -> str:
    """Each snapshot image and the training dots once, in a hidden <defs>, for <use> by the player and the strip."""
    x0, x1, y0, y1 = float(xx.min()), float(xx.max()), float(yy.min()), float(yy.max())
    dots = []
    if X is not None and y is not None:
        for (a, b), lab in zip(X, y):
            cx, cy = (a - x0) / (x1 - x0) * FRAME, (1 - (b - y0) / (y1 - y0)) * FRAME
            dots.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.2" fill="{"#b2182b" if lab else "#2166ac"}" '
                        'stroke="#fff" stroke-width="0.8"/>')
    frames = "".join(f'<image id="bframe{k}" href="{hc.png_data_uri(img)}" x="0" y="0" width="{FRAME}" '
                     f'height="{FRAME}" preserveAspectRatio="none"/>' for k, img in enumerate(images))
    return (f'<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>{frames}'
            f'<g id="bdots">{"".join(dots)}</g></defs></svg>')


def _frame_svg(k: int, size: int, cls: str = "", title: str = "") -> str:
    style = ' style="display:none"' if cls == "frame" else ""
    return (f'<svg class="chart {cls}" data-title="{escape(title)}"{style} xmlns="http://www.w3.org/2000/svg" '
            f'width="{size}" height="{size}" viewBox="0 0 {FRAME} {FRAME}"><use href="#bframe{k}"/>'
            '<use href="#bdots"/></svg>')


def boundary_section(path: Path, data: ReportData) -> str:
    if not path.exists():
        return ""
    from ..io import load_tensors
    try:
        arrays, meta = load_tensors(path)
        titles = json.loads(meta.get("titles", "[]"))
        xx, yy, frames = arrays["xx"], arrays["yy"], arrays["frames"]
    except (OSError, ValueError, KeyError) as exc:
        return _section("Decision boundary", "", f"{escape(str(path))} could not be read: {escape(str(exc))}")
    X = y = None
    if data.X_train is not None and data.y_train is not None and data.X_train.shape[1] == 2:
        X, y = data.X_train, np.asarray(data.y_train).reshape(len(data.y_train), -1)[:, 0] > 0.5
        if len(X) > MAX_POINTS:
            pick = np.random.default_rng(0).choice(len(X), MAX_POINTS, replace=False)
            X, y = X[pick], y[pick]
    defs = _boundary_defs([_boundary_image(z) for z in frames], xx, yy, X, y)
    strip = "".join(f"<figure>{_frame_svg(k, 170)}<figcaption>{escape(t)}</figcaption></figure>"
                    for k, t in enumerate(titles))
    player = "".join(_frame_svg(k, FRAME, "frame", t) for k, t in enumerate(titles))
    body = (f'{defs}<div class="player"><div id="boundary-player">{player}</div><div><p><b id="frame-label"></b></p>'
            f'<input id="frame-slider" type="range" min="0" max="{len(titles) - 1}" value="{len(titles) - 1}" '
            f'aria-label="snapshot"> <button id="frame-play" type="button">play</button>'
            '<p class="note">Drag the slider (or play) to watch the boundary form.</p></div></div>'
            f'<h3>All snapshots</h3><div class="strip">{strip}</div>')
    return _section("Decision boundary during training", body,
                    "The model's output on a grid over the inputs at a few epochs (spaced geometrically): "
                    "red = class 1, blue = class 0, in bands of 0.1; black = the decision boundary (0.5); "
                    "dots are training examples.")


# ---------------------------------------------------------------------------- first-layer weights
def weights_section(data: ReportData, info: Dict[str, Any]) -> str:
    from ..nn import Linear
    if data.model is None:
        return ""
    first = next((m for m in data.model.modules() if isinstance(m, Linear)), None)
    if first is None:
        return ""
    W = np.asarray(first.weight.data, np.float64)         # (inputs, units)
    shape = info.get("image_shape")
    units = min(W.shape[1], MAX_UNITS)
    if shape and int(np.prod(shape)) == W.shape[0]:
        h, w = int(shape[0]), int(shape[1])
        tiles = np.stack([hc.diverging(W[:, u].reshape(h, w)) for u in range(units)])
        scale = max(1, 48 // max(h, w))
        img = hc.mosaic(tiles, columns=min(16, units), scale=scale)
        body = hc.img_tag(img, img.shape[1] * 2 if scale * h < 40 else img.shape[1], "first-layer weights",
                          pixelated=True, cls="weights")
        note = (f"Each tile is one hidden unit's {W.shape[0]} incoming weights as a {h}x{w} image "
                f"(red positive, blue negative, each tile scaled to its own largest weight)"
                + (f"; the first {units} of {W.shape[1]} units." if units < W.shape[1] else "."))
        return _section("First-layer weights", body, note)
    if W.shape[0] <= 2:                   # 2-D inputs: the decision boundary shows the first layer better
        return ""
    ins = min(W.shape[0], 256)
    block = W[:ins, :units].T                                   # units down, inputs across
    img = hc.diverging(block).repeat(max(1, 240 // max(units, 1)), 0).repeat(max(1, 480 // max(ins, 1)), 1)
    body = hc.img_tag(img, min(img.shape[1], 720), "first-layer weight matrix", pixelated=True, cls="weights")
    return _section("First-layer weights", body,
                    f"The first layer's weights: one row per hidden unit ({units} of {W.shape[1]}), one column per "
                    f"input ({ins} of {W.shape[0]}); red positive, blue negative.")


# ---------------------------------------------------------------------------- per-layer norms
def norms_section(path: Path) -> str:
    if not path.exists():
        return ""
    from ..training.parameter_norms import read_norms_csv
    try:
        rows = read_norms_csv(path)
    except (OSError, ValueError) as exc:
        return _section("The learning process, layer by layer", "", escape(str(exc)))
    names = list(dict.fromkeys(r["parameter"] for r in rows))
    layers = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
    by: Dict[str, Dict[str, List[float]]] = {n: {"epoch": [], "weight_norm": [], "grad_norm": [], "update_norm": []}
                                             for n in names}
    for r in rows:
        for k in by[r["parameter"]]:
            by[r["parameter"]][k].append(r[k])

    def series(key: str, relative: bool = False) -> List[hc.Series]:
        out = []
        for n in names:
            d = by[n]
            ys = np.asarray(d[key])
            if relative:
                w = np.asarray(d["weight_norm"])
                ys = ys / np.where(w > 0, w, np.nan)
            weight = n.endswith("weight") or n.rsplit(".", 1)[-1].startswith("weight")
            color = hc.PALETTE[layers.index(n.rsplit(".", 1)[0]) % len(hc.PALETTE)]
            out.append(hc.Series(n, d["epoch"], ys, color=color, dashed=not weight, width=1.8 if weight else 1.1))
        return out
    charts = [hc.line_chart(series("weight_norm"), "Weight norm ‖W‖ per tensor", ylabel="‖W‖")]
    note = ""
    if any(not math.isnan(r["grad_norm"]) for r in rows):
        charts.append(hc.line_chart(series("grad_norm"), "Gradient norm ‖∇W‖ (last step of each epoch)",
                                    ylabel="‖∇W‖", log_y=True))
    else:
        note = (" No gradients were recorded: this optimizer leaves none in .grad (Levenberg-Marquardt and "
                "Bayesian regularisation work on the Jacobian).")
    charts.append(hc.line_chart(series("update_norm", relative=True), "Relative update ‖ΔW‖/‖W‖ per epoch",
                                ylabel="ratio", log_y=True))
    last = {n: (by[n]["weight_norm"][-1], by[n]["grad_norm"][-1]) for n in names}
    table = ("<table><tr><th>tensor</th><th>shape</th><th>‖W‖ at the end</th><th>last ‖∇W‖</th></tr>"
             + "".join(f"<tr><td>{escape(n)}</td><td>{escape(_shape(rows, n))}</td><td>{w:.4g}</td>"
                       f"<td>{'' if math.isnan(g) else f'{g:.3g}'}</td></tr>" for n, (w, g) in last.items())
             + "</table>")
    return _section("The learning process, layer by layer", f'<div class="row">{"".join(charts)}</div>{table}',
                    "One colour per layer; weights solid, biases dashed. Gradients that shrink layer by layer "
                    "towards the input are vanishing; updates far above 1e-2 of the weights per epoch are "
                    "violent, far below 1e-5 stalled. Epoch 0 is the initialisation." + note)


def _shape(rows: Sequence[Dict[str, Any]], name: str) -> str:
    return next((r["shape"] for r in rows if r["parameter"] == name), "")


# ---------------------------------------------------------------------------- data and timing
def data_section(info: Dict[str, Any], data: ReportData) -> str:
    n_tr, n_te = info.get("train", {}).get("n"), info.get("test", {}).get("n")
    facts = [("source", info.get("source", "")), ("task", info["task"]), ("training examples", n_tr),
             ("test examples", n_te), ("inputs", info["n_inputs"]), ("outputs", info["n_outputs"])]
    if info.get("image_shape"):
        facts.append(("image shape", "x".join(map(str, info["image_shape"]))))
    table = "<table>" + "".join(f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>"
                                for k, v in facts) + "</table>"
    charts = ""
    if data.y_train is not None and data.y_test is not None and info["task"] != "regression":
        y_tr, y_te = _labels(data.y_train), _labels(data.y_test)
        k = max(info["n_outputs"], 2, int(y_tr.max()) + 1 if len(y_tr) else 0)
        names = info.get("class_names") or [str(c) for c in range(k)]
        charts = hc.bar_chart([str(n) for n in names][:k],
                              [("training", np.bincount(y_tr, minlength=k)[:k].tolist()),
                               ("test", np.bincount(y_te, minlength=k)[:k].tolist())],
                              "Examples per class")
    elif data.y_train is not None:
        t = data.y_train
        charts = ("<table><tr><th>target</th><th>mean</th><th>std</th><th>min</th><th>max</th></tr>"
                  + "".join(f"<tr><td>{j}</td><td>{t[:, j].mean():.4g}</td><td>{t[:, j].std():.4g}</td>"
                            f"<td>{t[:, j].min():.4g}</td><td>{t[:, j].max():.4g}</td></tr>"
                            for j in range(min(t.shape[1], 10))) + "</table>")
    feats = ""
    if data.X_train_raw is not None and data.X_train_raw.ndim == 2:
        X = np.asarray(data.X_train_raw, np.float64)
        names = info.get("feature_names") or [f"x{j}" for j in range(X.shape[1])]
        shown = min(X.shape[1], 12)
        feats = ("<h3>Features (training split, before scaling)</h3><table><tr><th>feature</th><th>mean</th>"
                 "<th>std</th><th>min</th><th>max</th></tr>"
                 + "".join(f"<tr><td>{escape(str(names[j]))}</td>" + "".join(
                     f"<td>{_num(v, X[:, j])}</td>" for v in (X[:, j].mean(), X[:, j].std(), X[:, j].min(),
                                                            X[:, j].max())) + "</tr>"
                           for j in range(shown)) + "</table>"
                 + (f'<p class="note">{shown} of {X.shape[1]} features shown.</p>' if shown < X.shape[1] else ""))
    return _section("Data", f'<div class="row"><div>{table}</div>{charts}</div>{feats}')


def _num(value: float, column: np.ndarray) -> str:
    """4 significant digits; rounding noise far below the column's scale (a mean of 2e-18) shows as 0."""
    scale = float(np.max(np.abs(column))) if column.size else 0.0
    return f"{0.0 if abs(value) <= 1e-12 * scale else value:.4g}"


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:
        return np.argmax(y, axis=1) if y.shape[1] > 1 else (y[:, 0] > 0.5).astype(np.int64)
    return y.astype(np.int64)


def timing_section(info: Dict[str, Any], history: Dict[str, List[Any]], insight: Dict[str, Any]) -> str:
    times = [t for t in history.get("time", []) if t is not None]
    total = float(info.get("seconds", times[-1] if times else 0.0))
    per_epoch = np.diff([0.0] + times) if times else np.array([])
    cards = [(f"{total:.3g} s", "training (train command, whole fit)")]
    if len(per_epoch):
        cards += [(f"{np.median(per_epoch) * 1e3:.3g} ms", "median epoch"),
                  (f"{per_epoch[0] * 1e3:.3g} ms", "first epoch")]
    if "norms_seconds" in insight:
        share = insight["norms_seconds"] / total if total > 0 else 0.0
        cards.append((f"{insight['norms_seconds'] * 1e3:.3g} ms ({share:.1%})", "recording the layer norms"))
    body = '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{escape(k)}</span></div>'
                                           for v, k in cards) + "</div>"
    if len(per_epoch) > 1:
        body += hc.line_chart([hc.Series("seconds per epoch", np.arange(1, len(per_epoch) + 1), per_epoch,
                                         color="#8c564b")], "Time per epoch", ylabel="s")
    return _section("Timing", body, "The first epoch includes recording (tracing) the training step; the "
                    "per-epoch times include the end-of-epoch metrics.")
