"""Convergence problems for the optimizer tests: convex quadratic, Rosenbrock, XOR 2-2-1 with sigmoid units."""
import numpy as np

import retrograd as rg


def quadratic(seed=0, n=6):
    """½||A x - b||² with a well-conditioned random A (condition number about 10); minimum known."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(np.linspace(1.0, np.sqrt(10.0), n)) @ Q.T
    b = rng.standard_normal(n)
    x = rg.tensor(rng.standard_normal(n), requires_grad=True)
    At, bt = rg.tensor(A), rg.tensor(b)

    def residuals():
        return At @ x - bt
    return [x], residuals, lambda: float(np.abs(x.data - np.linalg.solve(A, b)).max())


def rosenbrock(seed=0):
    """(1 - x)² + 100 (y - x²)² from (-1.2, 1) (seed moves the start a little); minimum (1, 1)."""
    rng = np.random.default_rng(seed)
    p = rg.tensor(np.array([-1.2, 1.0]) + 0.1 * rng.standard_normal(2), requires_grad=True)

    def residuals():
        return rg.stack([1.0 - p[0], 10.0 * (p[1] - p[0] * p[0])])
    return [p], residuals, lambda: float(np.abs(p.data - 1.0).max())


def xor(seed):
    """2-2-1 net with logistic sigmoid units, Glorot-uniform init from ``seed``; residual = y - t per example."""
    rng = np.random.default_rng(seed)
    a1, a2 = np.sqrt(6 / 4), np.sqrt(6 / 3)
    W1 = rg.tensor(rng.uniform(-a1, a1, (2, 2)), requires_grad=True)
    b1 = rg.tensor(np.zeros(2), requires_grad=True)
    W2 = rg.tensor(rng.uniform(-a2, a2, (2, 1)), requires_grad=True)
    b2 = rg.tensor(np.zeros(1), requires_grad=True)
    X = rg.tensor(np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]]))
    T = np.array([[0.0], [1], [1], [0]])

    def residuals():
        return (rg.sigmoid(rg.sigmoid(X @ W1 + b1) @ W2 + b2) - rg.tensor(T)).reshape(-1)

    def solved():
        with rg.no_grad():
            y = residuals().data + T.ravel()
        return bool(np.all((y > 0.5) == (T.ravel() > 0.5))) and 0.5 * float(((y - T.ravel()) ** 2).sum()) < 0.05
    return [W1, b1, W2, b2], residuals, solved


def loss_closure(opt, residuals):
    """The loss closure ½Σr² (zero_grad, forward, backward, return) for ``closure_kind == "loss"``."""
    def closure():
        opt.zero_grad()
        r = residuals()
        loss = 0.5 * (r * r).sum()
        loss.backward()
        return loss
    return closure


def closure_for(opt, residuals):
    return residuals if opt.closure_kind == "residuals" else loss_closure(opt, residuals)
