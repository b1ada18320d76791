"""Split (train/test arrays) and a seeded, stratified train/test split written in NumPy."""
from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    """Training and test arrays: ``X_train, y_train, X_test, y_test = split``."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def train_test_split(X, y, test_size=0.2, seed=0, stratify=True):
    """Split ``(X, y)`` into a Split, keeping class proportions when ``stratify`` (integer labels).

    Each class contributes ``round(test_size * count)`` examples to the test set (at least one
    when the class has two or more). The order is a permutation drawn from
    ``np.random.default_rng(seed)``, so the same seed gives the same split.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X has {len(X)} rows but y has {len(y)}; they must match")
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"train_test_split: test_size must be in (0, 1), got {test_size}")
    rng = np.random.default_rng(seed)
    n = len(y)
    if stratify and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        test_idx = []
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            k = int(round(test_size * len(members)))
            if len(members) >= 2:
                k = min(max(k, 1), len(members) - 1)
            test_idx.append(members[:k])
        test_idx = np.concatenate(test_idx)
    else:
        test_idx = rng.permutation(n)[:int(round(test_size * n))]
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    train = rng.permutation(np.flatnonzero(~mask))
    test = rng.permutation(np.flatnonzero(mask))
    return Split(X[train], y[train], X[test], y[test])
