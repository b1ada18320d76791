"""Shared fixtures for the optimizer tests: a tiny functional MLP on plain tensors, and its data."""
import numpy as np

import retrograd as rg


def mlp_init(sizes=(3, 5, 2), seed=0):
    """[W1, b1, W2, b2, ...] float64 arrays (W of shape (fan_in, fan_out)), non-zero biases."""
    rng = np.random.default_rng(seed)
    out = []
    for fi, fo in zip(sizes[:-1], sizes[1:]):
        out.append(rng.uniform(-1, 1, size=(fi, fo)) / np.sqrt(fi))
        out.append(rng.uniform(-0.1, 0.1, size=fo))
    return out


def data(n=16, sizes=(3, 5, 2), seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])), rng.standard_normal((n, sizes[-1]))


def params_from(arrays):
    return [rg.tensor(a.copy(), requires_grad=True) for a in arrays]


def forward(params, x, act=rg.tanh):
    h = x
    n = len(params) // 2
    for i in range(n):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n - 1:
            h = act(h)
    return h


def mse_closure(opt, params, X, Y):
    x, y = rg.tensor(X), rg.tensor(Y)

    def closure():
        opt.zero_grad()
        loss = ((forward(params, x) - y) ** 2).mean()
        loss.backward()
        return loss
    return closure


def residual_closure(params, X, Y):
    """Closure for LM-type methods: the residual vector with its graph."""
    x, y = rg.tensor(X), rg.tensor(Y)

    def closure():
        return (forward(params, x) - y).reshape(-1)
    return closure
