"""Activation functions and their modules, plus the name registry ``get_activation``.

The functions are composites of engine primitives, so every derivative of
every order follows; the modules only hold their hyper-parameters.
"""
import math

from ..autograd import functions as F
from ..autograd.tensor import GradMode, Tensor
from .module import Module

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _check_prime_offset(prime_offset):
    if not (isinstance(prime_offset, (int, float)) and math.isfinite(prime_offset) and prime_offset >= 0):
        raise ValueError(f"prime_offset must be a finite number >= 0, got {prime_offset!r}")
    return float(prime_offset)


def _add_prime_offset(y, x, prime_offset):
    """``y = f(x)`` with ``prime_offset`` added to its derivative, on purpose (Fahlman's flat-spot fix).

    ``x - x.detach()`` is exactly 0 with derivative 1, so ``y + c (x - x.detach())``
    has y's value bit for bit and the derivative ``f'(x) + c`` — the exact
    derivative of ``f(x) + c x``, so second derivatives stay consistent.
    """
    if not prime_offset or not (isinstance(x, Tensor) and x.requires_grad and GradMode.enabled):
        return y
    return y + (x - x.detach()) * prime_offset


def sigmoid(x, prime_offset=0.0):
    """Logistic sigmoid 1/(1+e^-x).

    ``prime_offset=c`` (Fahlman 1988's flat-spot fix, c = 0.1 in his
    experiments) leaves the value unchanged but back-propagates
    ``σ(x)(1 − σ(x)) + c`` instead of the true derivative, so that saturated
    units (σ near 0 or 1, derivative near 0) still pass an error signal. The
    gradient is then deliberately *not* the derivative of the function
    computed: a finite-difference check fails by c.
    """
    if prime_offset:
        return _add_prime_offset(F.sigmoid(x), x, _check_prime_offset(prime_offset))
    return F.sigmoid(x)


def tanh(x, prime_offset=0.0):
    """Hyperbolic tangent; ``prime_offset`` adds a constant to its derivative as in ``sigmoid``."""
    if prime_offset:
        return _add_prime_offset(F.tanh(x), x, _check_prime_offset(prime_offset))
    return F.tanh(x)


def relu(x):
    return F.relu(x)


def leaky_relu(x, negative_slope=0.01):
    return F.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    return F.elu(x, alpha)


def selu(x):
    """Self-normalising ELU (Klambauer et al. 2017): scale * elu(x, alpha)."""
    return F.elu(x, _SELU_ALPHA) * _SELU_SCALE


def gelu(x, approximate="none"):
    return F.gelu(x, approximate)


def silu(x):
    """x * sigmoid(x) (also called swish)."""
    return x * F.sigmoid(x)


def softplus(x, beta=1.0):
    """log(1 + e^(beta x)) / beta, stable for large |x|."""
    if beta == 1.0:
        return F.softplus(x)
    return F.softplus(x * beta) * (1.0 / beta)


def softsign(x):
    """x / (1 + |x|): Elliott's cheap sigmoid-like squashing function."""
    return x / (F.abs(x) + 1.0)


elliott = softsign


def gaussian(x):
    """exp(-x^2): the radial-basis activation."""
    return F.exp(-(x * x))


def hard_sigmoid(x):
    """clip(x/6 + 1/2, 0, 1), PyTorch's definition."""
    return F.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hard_tanh(x, min_val=-1.0, max_val=1.0):
    return F.clip(x, min_val, max_val)


def identity(x):
    return x


def softmax(x, axis=-1):
    return F.softmax(x, axis)


def log_softmax(x, axis=-1):
    return F.log_softmax(x, axis)


class _Activation(Module):
    """A module wrapping one activation function with fixed keyword arguments."""
    fn = None
    name = None
    traceable = True

    def __init__(self, **kw):
        super().__init__()
        self.kw = kw

    def forward(self, x):
        return type(self).fn(x, **self.kw)

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self.kw.items())


def _module(cls_name, fn, name, params=()):
    """Build an activation module class whose constructor takes ``params`` (name, default) pairs."""
    def __init__(self, *args, **kw):
        values = dict(params)
        for (k, _), v in zip(params, args):
            values[k] = v
        for k, v in kw.items():
            if k not in values:
                raise TypeError(f"{cls_name}() got an unexpected keyword argument {k!r}")
            values[k] = v
        _Activation.__init__(self, **values)
    cls = type(cls_name, (_Activation,), {"__init__": __init__, "fn": staticmethod(fn), "name": name,
                                           "__doc__": f"Module form of ``{fn.__name__}``."})
    return cls


class _FlatSpotActivation(_Activation):
    """A sigmoid-shaped activation with Fahlman's optional ``prime_offset`` (see ``sigmoid``).

    The offset is stored only when it is not 0, so a plain ``Sigmoid()`` prints,
    describes and saves exactly as before the option existed.
    """

    def __init__(self, prime_offset=0.0):
        prime_offset = _check_prime_offset(prime_offset)
        _Activation.__init__(self, **({"prime_offset": prime_offset} if prime_offset else {}))


Sigmoid = type("Sigmoid", (_FlatSpotActivation,), {
    "fn": staticmethod(sigmoid), "name": "sigmoid",
    "__doc__": "Module form of ``sigmoid``: ``Sigmoid(prime_offset=0.1)`` adds Fahlman's offset to its derivative."})
Tanh = type("Tanh", (_FlatSpotActivation,), {
    "fn": staticmethod(tanh), "name": "tanh",
    "__doc__": "Module form of ``tanh``: ``Tanh(prime_offset=0.1)`` adds a constant to its derivative."})
ReLU = _module("ReLU", relu, "relu")
LeakyReLU = _module("LeakyReLU", leaky_relu, "leaky_relu", (("negative_slope", 0.01),))
ELU = _module("ELU", elu, "elu", (("alpha", 1.0),))
SELU = _module("SELU", selu, "selu")
GELU = _module("GELU", gelu, "gelu", (("approximate", "none"),))
SiLU = _module("SiLU", silu, "silu")
Softplus = _module("Softplus", softplus, "softplus", (("beta", 1.0),))
Softsign = _module("Softsign", softsign, "softsign")
Elliott = Softsign
Gaussian = _module("Gaussian", gaussian, "gaussian")
Hardsigmoid = _module("Hardsigmoid", hard_sigmoid, "hard_sigmoid")
Hardtanh = _module("Hardtanh", hard_tanh, "hard_tanh", (("min_val", -1.0), ("max_val", 1.0)))
Softmax = _module("Softmax", softmax, "softmax", (("axis", -1),))
LogSoftmax = _module("LogSoftmax", log_softmax, "log_softmax", (("axis", -1),))
HardSigmoid, HardTanh = Hardsigmoid, Hardtanh

ACTIVATIONS = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, SELU, GELU, SiLU,
                                         Softplus, Softsign, Gaussian, Hardsigmoid, Hardtanh,
                                         Softmax, LogSoftmax)}
_ALIASES = {"logistic": "sigmoid", "swish": "silu", "elliott": "softsign", "rbf": "gaussian",
            "hardsigmoid": "hard_sigmoid", "hardtanh": "hard_tanh", "linear": "identity",
            "logsoftmax": "log_softmax", "leakyrelu": "leaky_relu", "purelin": "identity",
            "logsig": "sigmoid", "tansig": "tanh"}


def activation_names():
    return sorted(list(ACTIVATIONS) + ["identity"])


def get_activation(name, **kw):
    """A new activation module by name (``"tanh"``, ``"leaky_relu"``, ...), with optional parameters."""
    from .containers import Identity
    if isinstance(name, Module):
        return name
    key = str(name).lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key == "identity":
        return Identity()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(activation_names())}")
    return ACTIVATIONS[key](**kw)

