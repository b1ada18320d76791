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


class FlatProblem:
    """The tiny MLP's loss as a function of one flat float64 vector (for NumPy transcriptions)."""

    def __init__(self, sizes=(3, 5, 2), seed=0):
        self.init = mlp_init(sizes, seed)
        self.X, self.Y = data(sizes=sizes)
        self.shapes = [a.shape for a in self.init]
        self.w0 = np.concatenate([a.ravel() for a in self.init])

    def unflatten(self, w):
        out, i = [], 0
        for s in self.shapes:
            n = int(np.prod(s))
            out.append(w[i:i + n].reshape(s))
            i += n
        return out

    def loss_grad(self, w):
        params = params_from(self.unflatten(w))
        loss = ((forward(params, rg.tensor(self.X)) - rg.tensor(self.Y)) ** 2).mean()
        loss.backward()
        return float(loss.data), np.concatenate([p.grad.data.ravel() for p in params])

    def run(self, name, steps, **hyper):
        """Our optimizer for ``steps`` steps from w0; returns the flat parameters."""
        params = params_from(self.init)
        opt = rg.optim.get(name, params, **hyper)
        closure = mse_closure(opt, params, self.X, self.Y)
        for _ in range(steps):
            opt.step(closure)
        return np.concatenate([p.data.ravel() for p in params])
