"""The shared Optimizer interface: groups, state_dict resume, weight decay, clipping, registry, errors."""
import numpy as np
import pytest

import retrograd as rg
from helpers import data, mlp_init, mse_closure, params_from
from problems import closure_for, xor

RESUMABLE = [
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True)), ("adagrad", {}), ("rmsprop", dict(centered=True)),
    ("adam", {}), ("adamw", {}), ("amsgrad", {}), ("nadam", {}), ("rprop+", {}), ("rprop-", {}),
    ("irprop+", {}), ("irprop-", {}), ("sarprop", {}), ("quickprop", {}), ("bold_driver", {}),
    ("delta_bar_delta", {}), ("supersab", dict(momentum=0.3)), ("lbfgs", dict(max_iter=3, history_size=4)),
    ("lbfgs", dict(max_iter=3, line_search_fn="strong_wolfe")), ("cg", {}), ("cg", dict(beta="hs")), ("scg", {}),
    ("hessian_free", {}), ("lm", {}), ("br", {}),
]


def _copy_state(sd):
    """A deep copy using only what a file would hold (arrays, scalars, lists, dicts)."""
    def cp(v):
        if isinstance(v, dict):
            return {k: cp(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(cp(x) for x in v)
        assert v is None or isinstance(v, (np.ndarray, float, int, bool, str)), type(v)
        return v.copy() if isinstance(v, np.ndarray) else v
    return cp(sd)


@pytest.mark.parametrize("name,hyper", RESUMABLE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(RESUMABLE)])
def test_state_dict_resume_is_bit_identical(name, hyper):
    params, residuals, _ = xor(3)
    opt = rg.optim.get(name, params, **hyper)
    closure = closure_for(opt, residuals)
    for _ in range(5):
        opt.step(closure)
    saved_params = [p.data.copy() for p in params]
    saved = _copy_state(opt.state_dict())
    for _ in range(5):
        opt.step(closure)
    expected = [p.data.copy() for p in params]

    params2, residuals2, _ = xor(99)                      # different init: everything must come from the save
    for p, a in zip(params2, saved_params):
        p.data[...] = a
    opt2 = rg.optim.get(name, params2, **hyper)
    opt2.load_state_dict(saved)
    closure2 = closure_for(opt2, residuals2)
    for _ in range(5):
        opt2.step(closure2)
    for a, b in zip(expected, params2):
        assert np.array_equal(a, b.data), f"{name}: resumed run differs"


def test_param_groups_and_changing_hyperparameters_between_steps():
    init = mlp_init()
    X, Y = data()
    params = params_from(init)
    opt = rg.optim.SGD([{"params": params[:2], "lr": 0.0}, {"params": params[2:]}], lr=0.1)
    closure = mse_closure(opt, params, X, Y)
    opt.step(closure)
    assert np.array_equal(params[0].data, init[0])          # lr 0 group did not move
    assert not np.array_equal(params[2].data, init[2])
    opt.param_groups[0]["lr"] = 0.1
    opt.step(closure)
    assert not np.array_equal(params[0].data, init[0])


def test_weight_decay_is_l2_added_to_the_gradient():
    p = rg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = rg.optim.get("sgd", [p], lr=0.1, weight_decay=0.5)
    p.grad = rg.tensor(np.array([0.2, 0.2]))
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * (0.2 + 0.5), -2.0 - 0.1 * (0.2 - 1.0)])


def test_weight_decay_works_for_every_per_parameter_rule():
    """Same run with weight_decay and with the L2 term put into the loss by hand gives the same result."""
    for name in ("rprop-", "delta_bar_delta", "adam", "quickprop"):
        p1 = rg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
        p2 = rg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
        o1 = rg.optim.get(name, [p1], weight_decay=0.3)
        o2 = rg.optim.get(name, [p2])
        for _ in range(6):
            o1.zero_grad(); ((p1 - 0.7) ** 2).sum().backward(); o1.step()
            o2.zero_grad(); (((p2 - 0.7) ** 2).sum() + 0.15 * (p2 * p2).sum()).backward(); o2.step()
        np.testing.assert_allclose(p1.data, p2.data, rtol=1e-12, err_msg=name)


def test_clipping_by_norm_and_by_value():
    a = rg.tensor(np.zeros(2), requires_grad=True)
    b = rg.tensor(np.zeros(1), requires_grad=True)
    opt = rg.optim.SGD([a, b], lr=1.0, clip_norm=1.0)
    a.grad, b.grad = rg.tensor(np.array([3.0, 0.0])), rg.tensor(np.array([4.0]))
    opt.step()
    np.testing.assert_allclose(np.concatenate([a.data, b.data]), -np.array([3, 0, 4]) / (5 + 1e-6))
    a2 = rg.tensor(np.zeros(2), requires_grad=True)
    opt = rg.optim.SGD([a2], lr=1.0, clip_value=0.5)
    a2.grad = rg.tensor(np.array([3.0, -0.1]))
    opt.step()
    np.testing.assert_allclose(a2.data, [-0.5, 0.1])


def test_clip_norm_matches_torch_clip_grad_norm():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0).standard_normal(5)
    p = rg.tensor(np.zeros(5), requires_grad=True)
    opt = rg.optim.SGD([p], lr=1.0, clip_norm=0.3)
    p.grad = rg.tensor(g.copy())
    opt.step()
    tp = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor(g.copy())
    torch.nn.utils.clip_grad_norm_([tp], 0.3)
    np.testing.assert_allclose(-p.data, tp.grad.numpy(), rtol=1e-12)


def test_registry_names_and_flags():
    expected = {"sgd", "adagrad", "rmsprop", "adam", "adamw", "amsgrad", "nadam", "bold_driver", "delta_bar_delta",
                "supersab", "quickprop", "rprop+", "rprop", "rprop-", "irprop+", "irprop-", "lbfgs", "cg", "scg",
                "hessian_free", "lm", "br"}
    assert expected <= set(rg.optim.names())
    full = {"lbfgs", "cg", "scg", "lm", "br", "hessian_free", "rprop+", "rprop-", "irprop+", "irprop-",
            "quickprop", "bold_driver"}
    for name in expected:
        cls = rg.optim.get_class(name)
        assert cls.full_batch == (name in full | {"rprop", "delta_bar_delta", "supersab"}), name
        assert cls.closure_kind == ("residuals" if name in ("lm", "br", "hessian_free") else "loss"), name
    assert rg.optim.get_class("rprop") is rg.optim.RpropPlus
    with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
        rg.optim.get("nope", [rg.tensor(np.ones(1), requires_grad=True)])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="empty parameter list"):
        rg.optim.SGD([])
    with pytest.raises(ValueError, match="does not require grad"):
        rg.optim.SGD([rg.tensor(np.ones(2))])
    p = rg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        rg.optim.SGD([p], lr=0.1, momentun=0.9)
    with pytest.raises(ValueError, match="two groups"):
        rg.optim.SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="needs a closure"):
        rg.optim.get("irprop+", [p]).step()


def test_step_returns_the_closure_loss_as_float():
    params = params_from(mlp_init())
    X, Y = data()
    opt = rg.optim.Adam(params)
    loss = opt.step(mse_closure(opt, params, X, Y))
    assert isinstance(loss, float) and loss > 0
    assert opt.step() is None


def test_adam_keeps_float32_parameters_in_float32_arithmetic():
    """The bias correction is a Python float: a NumPy float64 scalar there once lifted every
    update to float64 (slower, and not what torch.optim.Adam computes in float32)."""
    import math
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(1000).astype(np.float32)
    grads = [rng.standard_normal(1000).astype(np.float32) for _ in range(5)]
    p = rg.nn.Parameter(w0.copy())
    opt = rg.optim.Adam([p], lr=0.01)                       # one parameter: never packed
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        p.grad = rg.tensor(g)
        opt.step()
        m = np.float32(0.9) * m + np.float32(0.1) * g
        v = np.float32(0.999) * v + np.float32(1 - 0.999) * g * g
        denom = np.sqrt(v) / np.float32(math.sqrt(1 - 0.999 ** t)) + np.float32(1e-8)
        w = w - np.float32(0.01 / (1 - 0.9 ** t)) * m / denom
    assert p.data.dtype == np.float32
    np.testing.assert_array_equal(p.data, w)
