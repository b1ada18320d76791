"""The sin-fit problem shared by tests and benchmarks/bench_sin_fit.py: 1-10-1 tanh net, 100 points."""
import numpy as np

import retrograd as rg

N_POINTS = 100
HIDDEN = 10


def sin_data(noise=0.0, seed=0):
    x = np.linspace(-np.pi, np.pi, N_POINTS).reshape(-1, 1)
    y = np.sin(x)
    if noise:
        y = y + noise * np.random.default_rng(seed).standard_normal(y.shape)
    return x, y


def sin_init(seed=0, hidden=HIDDEN):
    """W1, b1 ~ U(-1, 1); W2 ~ U(-0.5, 0.5); b2 = 0 (float64). Random hidden biases break the symmetry."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (1, hidden)), rng.uniform(-1, 1, hidden), rng.uniform(-0.5, 0.5, (hidden, 1)),
            np.zeros(1)]


def sin_net(params, x):
    W1, b1, W2, b2 = params
    return rg.tanh(x @ W1 + b1) @ W2 + b2
