"""Activations: values against torch (or a NumPy formula), second-order gradchecks, modules and the registry."""
import math

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F

from .conftest import assert_close

# name, our function, NumPy reference, torch reference (name in torch.nn.functional or a lambda), smooth
TABLE = [
    ("sigmoid", F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "sigmoid", True),
    ("tanh", F.tanh, np.tanh, "tanh", True),
    ("relu", F.relu, lambda x: np.maximum(x, 0), "relu", False),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
     lambda t, x: t.nn.functional.leaky_relu(x, 0.1), False),
    ("elu", F.elu, lambda x: np.where(x > 0, x, np.expm1(x)), "elu", False),
    ("selu", F.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
     "selu", False),
    ("gelu", F.gelu, lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))), "gelu", True),
    ("gelu_tanh", lambda x: F.gelu(x, "tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
     lambda t, x: t.nn.functional.gelu(x, approximate="tanh"), True),
    ("silu", F.silu, lambda x: x / (1 + np.exp(-x)), "silu", True),
    ("softplus", F.softplus, lambda x: np.log1p(np.exp(x)), "softplus", True),
    ("softplus_beta", lambda x: F.softplus(x, beta=2.0), lambda x: np.log1p(np.exp(2 * x)) / 2,
     lambda t, x: t.nn.functional.softplus(x, beta=2.0), True),
    ("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), "softsign", False),
    ("gaussian", F.gaussian, lambda x: np.exp(-x * x), lambda t, x: t.exp(-x * x), True),
    ("hard_sigmoid", F.hard_sigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1), "hardsigmoid", False),
    ("hard_tanh", F.hard_tanh, lambda x: np.clip(x, -1, 1), "hardtanh", False),
    ("identity", F.identity, lambda x: x, lambda t, x: x, True),
    ("softmax", F.softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
     lambda t, x: t.softmax(x, -1), True),
    ("log_softmax", F.log_softmax, lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
     lambda t, x: t.log_softmax(x, -1), True),
]

# away from the kinks at 0, ±1 and ±3 so finite differences are valid everywhere
X = np.array([[-4.2, -2.5, -0.7, -0.3], [0.2, 0.6, 1.7, 5.1]])


@pytest.mark.parametrize("name,fn,ref,_t,_s", TABLE, ids=[r[0] for r in TABLE])
def test_against_numpy(name, fn, ref, _t, _s):
    assert_close(fn(rg.tensor(X)), ref(X), what=name)


@pytest.mark.parametrize("name,fn,_r,tref,_s", TABLE, ids=[r[0] for r in TABLE])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_against_torch_values_and_grads(name, fn, _r, tref, _s, dtype, torch):
    x = rg.tensor(X.astype(dtype), requires_grad=True)
    tx = torch.tensor(X.astype(dtype), requires_grad=True)
    y = fn(x)
    ty = getattr(torch.nn.functional, tref)(tx) if isinstance(tref, str) else tref(torch, tx)
    assert y.dtype == dtype
    assert_close(y, ty, dtype, name)
    w = np.linspace(-1, 1, X.size).reshape(X.shape).astype(dtype)
    (y * rg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    if name == "hard_sigmoid" and dtype == np.float64:
        # torch's hardsigmoid backward multiplies by a float32 1/6 even in float64; ours is exact
        np.testing.assert_allclose(x.grad.data, w * np.where(np.abs(X) < 3, 1 / 6, 0), rtol=1e-14)
        return
    assert_close(x.grad, tx.grad, dtype, name + " grad")


@pytest.mark.parametrize("name,fn,_r,_t,smooth", TABLE, ids=[r[0] for r in TABLE])
def test_gradcheck(name, fn, _r, _t, smooth):
    rg.gradcheck(fn, [X], order=2 if smooth else 1)


def test_extreme_inputs_stay_finite():
    x = rg.tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4]), requires_grad=True)
    for name in nn.activation_names():
        y = nn.get_activation(name)(x)
        y.sum().backward()
        assert np.all(np.isfinite(y.data)), name
        assert np.all(np.isfinite(x.grad.data)), name
        x.grad = None


def test_registry_and_modules():
    assert set(nn.activation_names()) >= {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu",
                                          "silu", "softplus", "softsign", "gaussian", "hard_sigmoid",
                                          "hard_tanh", "identity", "softmax", "log_softmax"}
    assert isinstance(nn.get_activation("logistic"), nn.Sigmoid)
    assert isinstance(nn.get_activation("elliott"), nn.Softsign)
    assert isinstance(nn.get_activation("identity"), nn.Identity)
    m = nn.get_activation("leaky_relu", negative_slope=0.2)
    assert m(rg.tensor([-1.0])).item() == pytest.approx(-0.2)
    assert nn.LeakyReLU(0.3)(rg.tensor([-1.0])).item() == pytest.approx(-0.3)
    with pytest.raises(ValueError, match="unknown activation 'nope'; known: .*tanh"):
        nn.get_activation("nope")
    with pytest.raises(TypeError, match="unexpected keyword argument 'slope'"):
        nn.LeakyReLU(slope=0.1)
