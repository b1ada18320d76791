"""Initialisers: fill a parameter in place from retrograd's generator (or an explicit one), reproducibly.

Every draw is made in float64 with ``numpy.random.Generator`` and then cast to
the tensor's dtype, so a seed gives the same values bit for bit in float32 and
float64 and on every platform NumPy supports.

Fans: a 2-D weight is taken in retrograd's dense layout ``(fan_in, fan_out)``
(``y = x @ W``); a weight with more dimensions in the convolution layout
``(out, in/groups, *kernel)``, as PyTorch. Pass ``fan_in=``/``fan_out=`` to
override (e.g. for a recurrent weight in PyTorch's ``(gates*H, in)`` layout).
"""
import math

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor


def fans(shape):
    """(fan_in, fan_out) for a weight shape (see the module docstring for the layouts)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def _fill(t, values):
    if not isinstance(t, Tensor):
        raise TypeError(f"initialisers fill a Tensor/Parameter in place, got {type(t).__name__}")
    values = np.asarray(values, dtype=np.float64).astype(t.data.dtype, copy=False)   # drawn on the host
    t.data[...] = backend.to_device(values, backend.device_of(t.data))
    return t


def _fan_pair(t, fan_in, fan_out):
    fi, fo = fans(t.shape)
    return (fan_in if fan_in is not None else fi), (fan_out if fan_out is not None else fo)


_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0),
          "selu": 0.75, "conv": 1.0}


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; "
                         f"known: {sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def uniform_(t, a=-0.3, b=0.3, generator=None):
    """U(a, b); the default ±0.3 is the classic "small random values" of early backprop papers."""
    rng = backend.get_generator(generator)
    return _fill(t, rng.uniform(a, b, size=t.shape))


def normal_(t, mean=0.0, std=1.0, generator=None):
    rng = backend.get_generator(generator)
    return _fill(t, rng.normal(mean, std, size=t.shape))


def constant_(t, value):
    return _fill(t, np.full(t.shape, float(value)))


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain=1.0, generator=None, fan_in=None, fan_out=None):
    """Glorot uniform: U(-a, a), a = gain*sqrt(6/(fan_in+fan_out)), drawn as rng.uniform(-a, a, shape)."""
    fi, fo = _fan_pair(t, fan_in, fan_out)
    a = gain * math.sqrt(6.0 / (fi + fo))
    rng = backend.get_generator(generator)
    return _fill(t, rng.uniform(-a, a, size=t.shape))


def xavier_normal_(t, gain=1.0, generator=None, fan_in=None, fan_out=None):
    """Glorot normal: N(0, gain^2 * 2/(fan_in+fan_out))."""
    fi, fo = _fan_pair(t, fan_in, fan_out)
    rng = backend.get_generator(generator)
    return _fill(t, rng.normal(0.0, gain * math.sqrt(2.0 / (fi + fo)), size=t.shape))


def kaiming_uniform_(t, a=0.0, nonlinearity="relu", mode="fan_in", generator=None, fan_in=None,
                     fan_out=None):
    """He uniform: U(-b, b), b = gain*sqrt(3/fan) with gain from ``nonlinearity`` (and slope ``a``)."""
    fan = _mode_fan(t, mode, fan_in, fan_out)
    gain = calculate_gain(nonlinearity, a) if nonlinearity == "leaky_relu" else calculate_gain(nonlinearity)
    bound = gain * math.sqrt(3.0 / fan)
    rng = backend.get_generator(generator)
    return _fill(t, rng.uniform(-bound, bound, size=t.shape))


def kaiming_normal_(t, a=0.0, nonlinearity="relu", mode="fan_in", generator=None, fan_in=None,
                    fan_out=None):
    """He normal: N(0, gain^2/fan)."""
    fan = _mode_fan(t, mode, fan_in, fan_out)
    gain = calculate_gain(nonlinearity, a) if nonlinearity == "leaky_relu" else calculate_gain(nonlinearity)
    rng = backend.get_generator(generator)
    return _fill(t, rng.normal(0.0, gain / math.sqrt(fan), size=t.shape))


def lecun_uniform_(t, generator=None, fan_in=None):
    """LeCun uniform: U(-sqrt(3/fan_in), sqrt(3/fan_in)) (unit variance for unit-variance inputs)."""
    fi, _ = _fan_pair(t, fan_in, None)
    b = math.sqrt(3.0 / fi)
    rng = backend.get_generator(generator)
    return _fill(t, rng.uniform(-b, b, size=t.shape))


def lecun_normal_(t, generator=None, fan_in=None):
    """LeCun normal: N(0, 1/fan_in) (the init SELU networks assume)."""
    fi, _ = _fan_pair(t, fan_in, None)
    rng = backend.get_generator(generator)
    return _fill(t, rng.normal(0.0, 1.0 / math.sqrt(fi), size=t.shape))


def fan_in_uniform_(t, fan_in=None, generator=None):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear, Conv and RNN tensors."""
    fi = fan_in if fan_in is not None else fans(t.shape)[0]
    b = 1.0 / math.sqrt(fi)
    rng = backend.get_generator(generator)
    return _fill(t, rng.uniform(-b, b, size=t.shape))


def orthogonal_(t, gain=1.0, generator=None):
    """A (semi-)orthogonal matrix from the QR of a Gaussian one, signs fixed so the law is Haar (Saxe et al. 2014)."""
    if t.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor with at least 2 dimensions, got shape {t.shape}")
    rows, cols = t.shape[0], int(np.prod(t.shape[1:]))
    rng = backend.get_generator(generator)
    a = rng.standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(t, gain * q.reshape(t.shape))


def nguyen_widrow_(weight, bias=None, generator=None):
    """Nguyen & Widrow (1990): hidden units spread evenly over the input space.

    For a dense weight (fan_in n, fan_out h): beta = 0.7 * h**(1/n); each
    unit's weight vector (a column) is drawn U(-1, 1) and scaled to length beta;
    biases are U(-beta, beta). MATLAB's ``initnw`` (the shallow-network default)
    follows the same rule for inputs scaled to [-1, 1].
    """
    n, h = _fan_pair(weight, None, None)
    beta = 0.7 * h ** (1.0 / n)
    rng = backend.get_generator(generator)
    w = rng.uniform(-1.0, 1.0, size=(n, h))
    w = w * (beta / np.linalg.norm(w, axis=0, keepdims=True))
    _fill(weight, w.reshape(weight.shape))
    if bias is not None:
        _fill(bias, rng.uniform(-beta, beta, size=bias.shape))
    return weight


def _mode_fan(t, mode, fan_in, fan_out):
    fi, fo = _fan_pair(t, fan_in, fan_out)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fi if mode == "fan_in" else fo


_REGISTRY = {
    "uniform": uniform_, "small_uniform": uniform_, "normal": normal_, "zeros": zeros_,
    "ones": ones_, "constant": constant_,
    "xavier_uniform": xavier_uniform_, "glorot_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_, "glorot_normal": xavier_normal_,
    "kaiming_uniform": kaiming_uniform_, "he_uniform": kaiming_uniform_,
    "kaiming_normal": kaiming_normal_, "he_normal": kaiming_normal_,
    "lecun_uniform": lecun_uniform_, "lecun_normal": lecun_normal_,
    "fan_in_uniform": fan_in_uniform_, "orthogonal": orthogonal_, "nguyen_widrow": nguyen_widrow_,
}


def names():
    return sorted(_REGISTRY)


def get(name):
    """The in-place initialiser called ``name`` (with or without the trailing underscore)."""
    if callable(name):
        return name
    key = str(name).lower().rstrip("_").replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown initialiser {name!r}; known: {', '.join(names())}")
    return _REGISTRY[key]
