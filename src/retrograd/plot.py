"""Figures from plain data (histories, arrays): curves, decision boundaries, confusion matrices, weights.

matplotlib is an optional extra (``pip install 'retrograd[plot]'``), imported lazily with the
headless Agg backend. Every function writes one PNG atomically (temp file, fsync, rename) and
returns its path, so a reader never sees a half-written figure.
"""
from pathlib import Path

import numpy as np

from .io.atomic import atomic_path, atomic_write


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("rg.plot needs matplotlib: pip install 'retrograd[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _atomic_write(path, write):
    """Call ``write(file_object)`` inside ``retrograd.io.atomic_write(path)``, creating the folder first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        write(handle)
    return path


def _save(fig, path, dpi=100):
    plt = _pyplot()
    try:
        fig.tight_layout()
        return _atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=dpi))
    finally:
        plt.close(fig)


def _series(history, key):
    """(epochs, values) for one history key, dropping epochs where it was not recorded (None)."""
    values = history.get(key) or []
    pairs = [(i + 1, float(v)) for i, v in enumerate(values) if v is not None]
    if not pairs:
        return np.array([]), np.array([])
    epochs, vals = zip(*pairs)
    return np.array(epochs), np.array(vals)


def plot_history(history, path, keys=None, log_loss=None, title=None):
    """Training and validation curves: one panel for the loss, one per metric (with its ``val_`` twin).

    ``history`` is an ``rg.History`` or any dict of per-epoch lists. ``keys`` picks the base names
    (default: every key except lr/time and the ``val_`` ones). The loss axis is logarithmic
    when ``log_loss`` (default: when the loss spans more than two decades and stays positive).
    """
    plt = _pyplot()
    if keys is None:
        keys = [k for k in history if not k.startswith("val_") and k not in ("lr", "time")]
        keys += [k[4:] for k in history if k.startswith("val_") and k[4:] not in keys]
    keys = [k for k in keys if len(_series(history, k)[0]) or len(_series(history, "val_" + k)[0])]
    if not keys:
        raise ValueError(f"plot_history: nothing to plot; the history has keys {list(history)}")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, style in ((key, "-"), ("val_" + key, "--")):
            epochs, values = _series(history, name)
            if len(epochs):
                ax.plot(epochs, values, style, label=name)
        if key == "loss":
            _, values = _series(history, "loss")
            positive = len(values) and np.all(values > 0)
            if log_loss or (log_loss is None and positive and values.max() / values.min() > 100):
                ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_lr(history, path):
    """The learning rate per epoch (the ``lr`` key of a history)."""
    plt = _pyplot()
    epochs, values = _series(history, "lr")
    if not len(epochs):
        raise ValueError(f"plot_lr: the history has no 'lr' values (keys: {list(history)})")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(epochs, values)
    if np.all(values > 0) and values.max() / values.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def decision_grid(X, resolution=100, margin=0.1):
    """A grid over the bounding box of 2-D inputs X (plus ``margin`` of the span on each side).

    Returns ``(xx, yy, points)``: the two (resolution, resolution) coordinate arrays and the
    (resolution**2, 2) points to feed to a model. Evaluate the model on ``points`` and reshape
    its output to ``xx.shape`` to get a snapshot for ``plot_decision_boundary``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_grid: needs 2-D inputs of shape (n, 2), got {X.shape}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.where(hi > lo, hi - lo, 1.0)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], axis=1)


def _draw_boundary(ax, xx, yy, Z, X, y, title):
    Z = np.asarray(Z, dtype=np.float64).reshape(xx.shape)
    ax.contourf(xx, yy, Z, levels=20, cmap="RdBu_r", alpha=0.7)
    ax.contour(xx, yy, Z, levels=[0.5], colors="k", linewidths=1)
    labels = np.asarray(y).reshape(len(y), -1)[:, 0] if np.asarray(y).ndim > 1 else np.asarray(y)
    keep = _sample(len(X))
    if keep is not None:
        X, labels = X[keep], labels[keep]
    ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="RdBu_r", edgecolors="k", s=14, vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_decision_boundary(snapshots, X, y, path, grid=None, gif_path=None, columns=4):
    """How the decision boundary of a 2-D problem evolves: a grid of snapshots, optionally a GIF.

    ``snapshots`` is a list of ``(title, Z)`` where Z is the model's output (probability of class
    1) on the points of ``grid = decision_grid(X)`` (computed here when not given), reshaped or
    flat. A single array Z is one snapshot. The 0.5 contour is drawn in black. ``gif_path``
    also writes an animation with one frame per snapshot (matplotlib's Pillow writer).
    """
    plt = _pyplot()
    X = np.asarray(X, dtype=np.float64)
    xx, yy, _ = grid if grid is not None else decision_grid(X)
    if isinstance(snapshots, np.ndarray):
        snapshots = [("", snapshots)]
    if not snapshots:
        raise ValueError("plot_decision_boundary: no snapshots given")
    for title, Z in snapshots:
        if np.asarray(Z).size != xx.size:
            raise ValueError(f"plot_decision_boundary: snapshot {title!r} has {np.asarray(Z).size} values "
                             f"but the grid has {xx.size} points; evaluate the model on decision_grid(X)[2]")
    cols = min(columns, len(snapshots))
    rows = -(-len(snapshots) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.ravel()[len(snapshots):]:
        ax.axis("off")
    for ax, (title, Z) in zip(axes.ravel(), snapshots):
        _draw_boundary(ax, xx, yy, Z, X, y, title)
    out = _save(fig, path)
    if gif_path is not None:
        _write_gif(snapshots, xx, yy, X, y, gif_path)
    return out


def _write_gif(snapshots, xx, yy, X, y, gif_path):
    plt = _pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter
    fig, ax = plt.subplots(figsize=(4, 4))

    def frame(i):
        ax.clear()
        _draw_boundary(ax, xx, yy, snapshots[i][1], X, y, snapshots[i][0])

    animation = FuncAnimation(fig, frame, frames=len(snapshots))
    gif_path = Path(gif_path)
    try:
        with atomic_path(gif_path) as tmp:       # the temp name ends in .gif: Pillow picks the format from it
            animation.save(tmp, writer=PillowWriter(fps=4))
    finally:
        plt.close(fig)
    return gif_path


def confusion_matrix(y_true, y_pred, n_classes=None):
    """Counts C[i, j] of examples of true class i predicted as class j."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    n = int(n_classes or max(y_true.max(initial=0), y_pred.max(initial=0)) + 1)
    C = np.zeros((n, n), dtype=np.int64)
    np.add.at(C, (y_true, y_pred), 1)
    return C


# Readability limits (a figure's cost grows with what it draws; 347 annotated classes once took
# 140 s and 11 GB): numbers in the cells up to ANNOTATE_MAX classes, a tick label per class up to
# TICKS_MAX (then every k-th), the figure never wider than MAX_FIGURE_INCHES, and scatter plots
# draw a seeded sample of at most MAX_POINTS points.
ANNOTATE_MAX = 20
TICKS_MAX = 50
MAX_FIGURE_INCHES = 12.0
MAX_POINTS = 5000


def plot_confusion_matrix(y_true, y_pred, path, class_names=None, normalize=False):
    """Confusion matrix as a heat map (rows: true class, columns: predicted class).

    The figure is capped at MAX_FIGURE_INCHES; cells carry their counts up to ANNOTATE_MAX classes
    and the axes one label per class up to TICKS_MAX (every k-th label beyond).
    """
    plt = _pyplot()
    n = len(class_names) if class_names is not None else None
    C = confusion_matrix(y_true, y_pred, n)
    shown = C / np.maximum(C.sum(axis=1, keepdims=True), 1) if normalize else C
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(C))]
    size = min(MAX_FIGURE_INCHES, max(4, 0.5 * len(C) + 2))
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(shown, cmap="Blues", interpolation="nearest")
    if len(C) <= ANNOTATE_MAX:
        for i in range(len(C)):
            for j in range(len(C)):
                text = f"{shown[i, j]:.2f}" if normalize else str(C[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > shown.max() / 2 else "black")
    step = max(1, -(-len(C) // TICKS_MAX))
    ticks = list(range(0, len(C), step))
    ax.set_xticks(ticks, [names[k] for k in ticks], rotation=45, ha="right")
    ax.set_yticks(ticks, [names[k] for k in ticks])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(C) / max(C.sum(), 1)
    ax.set_title(f"accuracy {accuracy:.3f}" + (f" ({len(C)} classes)" if len(C) > ANNOTATE_MAX else ""))
    return _save(fig, path)


def _sample(count: int, limit: int = MAX_POINTS):
    """Indices of at most ``limit`` of ``count`` points (a seeded random subset, in order), or None for all."""
    if count <= limit:
        return None
    return np.sort(np.random.default_rng(0).choice(count, size=limit, replace=False))


def plot_first_layer_weights(W, path, image_shape, max_units=64, columns=8):
    """Each hidden unit's incoming weights drawn as an image: what the first layer learned to detect.

    ``W`` has shape (n_inputs, n_hidden) (the ``y = x @ W + b`` layout) with n_inputs equal to
    the product of ``image_shape``, e.g. (8, 8) for digits. Each image uses a symmetric colour
    scale around 0 (red positive, blue negative).
    """
    plt = _pyplot()
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != int(np.prod(image_shape)):
        raise ValueError(f"plot_first_layer_weights: weight shape {W.shape} does not match images of shape "
                         f"{tuple(image_shape)} ({int(np.prod(image_shape))} inputs per unit)")
    units = min(W.shape[1], max_units)
    cols = min(columns, units)
    rows = -(-units // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < units:
            image = W[:, k].reshape(image_shape)
            limit = np.abs(image).max() or 1.0
            ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"first-layer weights ({units} of {W.shape[1]} units)")
    return _save(fig, path)


def plot_error_histogram(errors, path, bins=30, xlabel="error (prediction - target)"):
    """Histogram of errors (any shape; flattened)."""
    plt = _pyplot()
    errors = np.asarray(errors, dtype=np.float64).ravel()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(errors, bins=bins, color="tab:blue", alpha=0.8)
    ax.axvline(0.0, color="k", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(f"mean {errors.mean():.3g}, rms {np.sqrt((errors ** 2).mean()):.3g}")
    return _save(fig, path)


def plot_regression_fit(x, y_true, y_pred, path):
    """Regression fit: with 1-D x, targets and predictions against x; otherwise predicted vs true.

    At most MAX_POINTS points are drawn (a seeded sample, said in the title); the rms error in
    the title is over all of them.
    """
    plt = _pyplot()
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    x = None if x is None else np.asarray(x, dtype=np.float64).ravel()
    title = f"rms error {np.sqrt(((y_pred - y_true) ** 2).mean()):.3g}"
    keep = _sample(y_true.size)
    if keep is not None:
        title += f" ({keep.size} of {y_true.size} points shown)"
        if x is not None and x.size == y_true.size:
            x = x[keep]
        y_true, y_pred = y_true[keep], y_pred[keep]
    fig, ax = plt.subplots(figsize=(5, 4))
    if x is not None and x.size == y_true.size:
        order = np.argsort(x)
        ax.scatter(x, y_true, s=10, label="target", alpha=0.7)
        ax.plot(x[order], y_pred[order], "r-", label="prediction")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    else:
        ax.scatter(y_true, y_pred, s=10, alpha=0.7)
        lo, hi = min(y_true.min(), y_pred.min()), max(y_true.max(), y_pred.max())
        ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="ideal")
        ax.set_xlabel("target")
        ax.set_ylabel("prediction")
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)


def plot_reconstructions(originals, reconstructions, path, image_shape, count=10):
    """Inputs (top row) above their reconstructions (bottom row), e.g. for an autoencoder."""
    plt = _pyplot()
    originals = np.asarray(originals, dtype=np.float64)
    reconstructions = np.asarray(reconstructions, dtype=np.float64)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"plot_reconstructions: originals {originals.shape} and reconstructions "
                         f"{reconstructions.shape} must have the same shape")
    count = min(count, len(originals))
    lo, hi = min(originals.min(), reconstructions.min()), max(originals.max(), reconstructions.max())
    fig, axes = plt.subplots(2, count, figsize=(1.2 * count, 2.6), squeeze=False)
    for k in range(count):
        for row, images in enumerate((originals, reconstructions)):
            axes[row, k].imshow(images[k].reshape(image_shape), cmap="gray_r", vmin=lo, vmax=hi)
            axes[row, k].axis("off")
    axes[0, 0].set_title("input", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    return _save(fig, path)
