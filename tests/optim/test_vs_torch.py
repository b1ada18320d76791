"""Optimizers that torch.optim also has: 20 steps on the same small float64 network match to 1e-9."""
import numpy as np
import pytest

import retrograd as rg
from helpers import data, forward, mlp_init, mse_closure, params_from

torch = pytest.importorskip("torch")

# (retrograd name, hyperparameters, torch class name, torch hyperparameters)
CASES = [
    ("sgd", dict(lr=0.1), "SGD", dict(lr=0.1)),
    ("sgd", dict(lr=0.05, momentum=0.9), "SGD", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01), "SGD",
     dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.8, nesterov=True), "SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1), "Adagrad",
     dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    ("rmsprop", dict(lr=0.01), "RMSprop", dict(lr=0.01)),
    ("rmsprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1), "RMSprop",
     dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
    ("adam", dict(lr=0.01), "Adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1), "Adam",
     dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    ("adamw", dict(lr=0.01, weight_decay=0.1), "AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("amsgrad", dict(lr=0.01), "Adam", dict(lr=0.01, amsgrad=True)),
    ("adamw", dict(lr=0.01, amsgrad=True), "AdamW", dict(lr=0.01, amsgrad=True)),
    ("nadam", dict(lr=0.01), "NAdam", dict(lr=0.01)),
    ("nadam", dict(lr=0.01, weight_decay=0.05), "NAdam", dict(lr=0.01, weight_decay=0.05)),
    ("irprop-", dict(lr=0.01), "Rprop", dict(lr=0.01)),
    ("irprop-", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 0.2)), "Rprop",
     dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-4, 0.2))),
]


def torch_run(tname, thyper, init, X, Y, steps):
    # torch keeps scalar state (NAdam's mu_product, step counts) in the default dtype: make it float64
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _torch_run(tname, thyper, init, X, Y, steps)
    finally:
        torch.set_default_dtype(saved)


def _torch_run(tname, thyper, init, X, Y, steps):
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(torch.optim, tname)(tp, **thyper)
    x, y = torch.tensor(X), torch.tensor(Y)

    def closure():
        opt.zero_grad()
        h = x
        for i in range(len(tp) // 2):
            h = h @ tp[2 * i] + tp[2 * i + 1]
            if i < len(tp) // 2 - 1:
                h = torch.tanh(h)
        loss = ((h - y) ** 2).mean()
        loss.backward()
        return loss
    for _ in range(steps):
        opt.step(closure)
    return [p.detach().numpy() for p in tp]


@pytest.mark.parametrize("name,hyper,tname,thyper", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch_for_20_steps(name, hyper, tname, thyper):
    init = mlp_init()
    X, Y = data()
    params = params_from(init)
    opt = rg.optim.get(name, params, **hyper)
    closure = mse_closure(opt, params, X, Y)
    for _ in range(20):
        opt.step(closure)
    expected = torch_run(tname, thyper, init, X, Y, 20)
    moved = max(np.abs(p.data - a).max() for p, a in zip(params, init))
    assert moved > 1e-3, "the optimizer barely moved; the comparison would prove nothing"
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("history,max_iter", [(10, 20), (3, 20), (100, 7)])
def test_lbfgs_strong_wolfe_matches_torch(history, max_iter):
    init = mlp_init((3, 6, 2))
    X, Y = data(sizes=(3, 6, 2))
    params = params_from(init)
    opt = rg.optim.LBFGS(params, history_size=history, max_iter=max_iter, line_search_fn="strong_wolfe")
    closure = mse_closure(opt, params, X, Y)
    losses = [opt.step(closure) for _ in range(2)]
    thyper = dict(history_size=history, max_iter=max_iter, line_search_fn="strong_wolfe")
    expected = torch_run("LBFGS", thyper, init, X, Y, 2)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-9, atol=1e-12)
    assert losses[1] < losses[0]


def test_lbfgs_without_line_search_matches_torch():
    init = mlp_init()
    X, Y = data()
    params = params_from(init)
    opt = rg.optim.LBFGS(params, lr=0.5, max_iter=20)
    closure = mse_closure(opt, params, X, Y)
    opt.step(closure)
    expected = torch_run("LBFGS", dict(lr=0.5, max_iter=20), init, X, Y, 1)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-9, atol=1e-12)
