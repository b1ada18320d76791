"""Small deterministic problems and models shared by the training tests."""
import numpy as np
import pytest

import retrograd as rg


def make_mlp(sizes, seed=0, dtype=np.float32, act="tanh"):
    """Sequential MLP with Glorot weights from default_rng(seed) (the WORKLOADS.md rule)."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = rg.nn.Linear(fi, fo)
        a = np.sqrt(6.0 / (fi + fo))
        lin.weight.data = rng.uniform(-a, a, size=(fi, fo)).astype(dtype)
        lin.bias.data = np.zeros(fo, dtype=dtype)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(rg.nn.get_activation(act))
    return rg.nn.Sequential(*layers)


def blobs(n=60, d=4, classes=3, seed=0, dtype=np.float32):
    """Separable-ish Gaussian blobs: X (n, d) and integer labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    centres = rng.normal(0, 2.0, size=(classes, d))
    X = centres[y] + rng.normal(0, 0.7, size=(n, d))
    return X.astype(dtype), y.astype(np.int64)


def weights(model):
    return [p.data.copy() for p in model.parameters()]


@pytest.fixture
def mlp():
    return make_mlp


@pytest.fixture
def data():
    return blobs
