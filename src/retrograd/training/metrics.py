"""Metrics computed on whole prediction arrays at epoch end (accuracy, MSE, MAE, bit fail), by name."""
import numpy as np


def _labels(targets, n_classes):
    """Integer class labels from int labels or one-hot / probability rows."""
    t = np.asarray(targets)
    if t.ndim == 2 and t.shape[1] == n_classes and n_classes > 1:
        return np.argmax(t, axis=1)
    return t.reshape(-1).astype(np.int64)


def accuracy(outputs, targets, threshold=0.5):
    """Fraction classified correctly.

    Several output columns: argmax against integer labels (or one-hot rows).
    One column: ``output > threshold`` against ``target > 0.5`` (use
    ``threshold=0`` for logits).
    """
    y = np.asarray(outputs)
    if y.ndim == 2 and y.shape[1] > 1:
        return float(np.mean(np.argmax(y, axis=1) == _labels(targets, y.shape[1])))
    t = np.asarray(targets).reshape(-1)
    return float(np.mean((y.reshape(-1) > threshold) == (t > 0.5)))


def _target_like(y, targets):
    """Targets shaped as the outputs; integer labels against several columns become one-hot rows."""
    t = np.asarray(targets)
    if y.ndim == 2 and y.shape[1] > 1 and t.ndim == 1 and t.dtype.kind in "iu":
        return np.eye(y.shape[1], dtype=y.dtype)[t]
    return t.reshape(y.shape)


def mse(outputs, targets):
    """Mean squared error over all elements (integer labels compare as one-hot rows)."""
    y = np.asarray(outputs)
    return float(np.mean((y - _target_like(y, targets)) ** 2))


def mae(outputs, targets):
    """Mean absolute error over all elements (integer labels compare as one-hot rows)."""
    y = np.asarray(outputs)
    return float(np.mean(np.abs(y - _target_like(y, targets))))


def rmse(outputs, targets):
    return float(np.sqrt(mse(outputs, targets)))


def bit_fail(outputs, targets, limit=0.35):
    """FANN's bit fail: how many output values differ from their target by more than ``limit``.

    Integer labels against several output columns are compared as one-hot rows.
    """
    y = np.asarray(outputs)
    return int(np.count_nonzero(np.abs(y - _target_like(y, targets)) > limit))


METRICS = {"accuracy": accuracy, "acc": accuracy, "mse": mse, "mae": mae, "rmse": rmse,
           "bit_fail": bit_fail}


def get_metric(metric):
    """(name, function) for a metric name or a callable ``f(outputs, targets) -> float``."""
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    try:
        fn = METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(METRICS)} "
                         f"(or pass a function f(outputs, targets) -> float)") from None
    return ("accuracy" if metric == "acc" else metric), fn
