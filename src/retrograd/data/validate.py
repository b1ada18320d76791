"""Checks that data fit a model: feature count, label range, target shape; errors name the source."""
import numpy as np

from .errors import DataError


def check_features(X, n_features, source):
    """X must be 2-D with ``n_features`` columns (the model's input width)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise DataError(f"data have shape {X.shape} but the model expects {n_features} input features "
                        f"per row; pass data with the columns the model was trained on", source)
    return X


def check_labels(y, n_classes, source):
    """Class labels must be integers in [0, n_classes) for a model with ``n_classes`` outputs."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"class labels must be 1-D, got shape {y.shape}", source)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(y == np.round(y)):
            raise DataError("class labels must be integers; found non-integer values "
                            f"such as {y[y != np.round(y)][0]}", source)
        y = y.astype(np.int64)
    bad = (y < 0) | (y >= n_classes)
    if np.any(bad):
        found = sorted(set(np.unique(y[bad]).tolist()))[:10]
        raise DataError(f"labels {found} are outside 0..{n_classes - 1}, the classes of the model "
                        f"({n_classes} outputs); first at row {int(np.flatnonzero(bad)[0]) + 1}", source)
    return y


def check_targets(y, n_outputs, source):
    """Regression targets: shape (n,) for one output or (n, n_outputs); returned as (n, n_outputs)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise DataError(f"targets have shape {y.shape} but the model has {n_outputs} outputs", source)
    return y
