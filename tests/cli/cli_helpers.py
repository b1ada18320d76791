"""Small CSV data sets for the CLI tests."""
import csv

import numpy as np


def write_csv(path, header, rows):
    """A CSV file with a header row; cells written with str()."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled_blobs(n, seed, labels=("setosa", "versicolor", "virginica")):
    """Three well-separated Gaussian blobs in 3-D, labelled with ``labels`` (text or numbers)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, size=n)
    centres = np.array([[0, 0, 0], [3, 0, 1], [0, 3, -1]], dtype=float)
    X = centres[k] + rng.normal(scale=0.5, size=(n, 3))
    return X, [labels[i] for i in k]


def diabetes_like(n=442, seed=0):
    """Whole-number regression targets from a smooth function of 6 features (about 200 distinct values)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = np.round(150 + 60 * np.tanh(X[:, 0] + 0.5 * X[:, 1]) + 25 * X[:, 2] + rng.normal(scale=10, size=n))
    return X, y.astype(int)
