"""Elementwise primitives: arithmetic, transcendental functions and activations, each with its VJP."""
import math

import numpy as np

from ... import backend
from .registry import ARRAY_MATH, primitive

# --------------------------------------------------------------------- arithmetic


@primitive
def add(x, y):
    return x + y


@add.defvjp
def add_vjp(m, needs, g, out, x, y):
    return g, g


@primitive
def sub(x, y):
    return x - y


@sub.defvjp
def sub_vjp(m, needs, g, out, x, y):
    return g, (-g if needs[1] else None)


@primitive
def mul(x, y):
    return x * y


@mul.defvjp
def mul_vjp(m, needs, g, out, x, y):
    return (g * y if needs[0] else None), (g * x if needs[1] else None)


@primitive
def div(x, y):
    return x / y


@div.defvjp
def div_vjp(m, needs, g, out, x, y):
    gx = g / y if needs[0] else None
    gy = -g * out / y if needs[1] else None
    return gx, gy


@primitive
def neg(x):
    return -x


@neg.defvjp
def neg_vjp(m, needs, g, out, x):
    return (-g,)


@primitive
def pow_(x, y):
    return x ** y


@pow_.defvjp
def pow_vjp(m, needs, g, out, x, y):
    gx = gy = None
    if needs[0]:
        if isinstance(y, (int, float)) and y == 2:
            gx = g * x * 2.0  # the common square, without a second power
        else:
            gx = g * y * x ** (y - 1)
    if needs[1]:
        gy = g * out * m.log(x)
    return gx, gy


# --------------------------------------------------------------------- transcendental


@primitive
def exp(x):
    return np.exp(x)


@exp.defvjp
def exp_vjp(m, needs, g, out, x):
    return (g * out,)


@primitive
def log(x):
    return np.log(x)


@log.defvjp
def log_vjp(m, needs, g, out, x):
    return (g / x,)


@primitive
def log1p(x):
    return np.log1p(x)


@log1p.defvjp
def log1p_vjp(m, needs, g, out, x):
    return (g / (1 + x),)


@primitive
def sqrt(x):
    return np.sqrt(x)


@sqrt.defvjp
def sqrt_vjp(m, needs, g, out, x):
    return (g * 0.5 / out,)


@primitive
def sin(x):
    return np.sin(x)


@sin.defvjp
def sin_vjp(m, needs, g, out, x):
    return (g * m.cos(x),)


@primitive
def cos(x):
    return np.cos(x)


@cos.defvjp
def cos_vjp(m, needs, g, out, x):
    return (-g * m.sin(x),)


def _times(r, g):
    """r * g, in place on the fresh temporary r unless g's dtype would be promoted away."""
    if r.dtype == g.dtype and np.ndim(r) > 0:
        r *= g
        return r
    return r * g


@primitive
def tanh(x):
    return np.tanh(x)


@tanh.defvjp
def tanh_vjp(m, needs, g, out, x):
    if m is ARRAY_MATH and out.dtype == g.dtype and out.ndim:  # same formula, one temporary (a hot rule in small MLPs)
        r = np.multiply(out, out)
        np.subtract(1, r, out=r)
        r *= g
        return (r,)
    return (g * (1 - out * out),)


def _clipped_expit(x):
    """1 / (1 + exp(-x)) on any array module: exp(-x) overflows for x below about -88 (float32) /
    -709 (float64), so x is clipped there, where the sigmoid is already 0 to the dtype's precision."""
    lo = -88.0 if x.dtype == np.float32 else -708.0
    return 1.0 / (1.0 + np.exp(-np.maximum(x, lo)))


def _expit():
    """scipy's expit (one stable ufunc) when SciPy is present, else the clipped formula."""
    try:
        from scipy.special import expit
        return expit
    except ImportError:
        return _clipped_expit


_EXPIT: list = []


@primitive
def sigmoid(x):
    if backend.is_device_array(x):         # CuPy: SciPy's ufunc takes host arrays only
        return _clipped_expit(x)
    if not _EXPIT:
        _EXPIT.append(_expit())
    return _EXPIT[0](x)


@sigmoid.defvjp
def sigmoid_vjp(m, needs, g, out, x):
    if m is ARRAY_MATH:  # same formula, fewer temporaries
        r = 1 - out
        r *= out
        return (_times(r, g),)
    return (g * out * (1 - out),)


@primitive
def softplus(x):
    return np.logaddexp(0, x)  # log(1 + e^x) without overflow


@softplus.defvjp
def softplus_vjp(m, needs, g, out, x):
    return (g * m.sigmoid(x),)


def _erf_forward():
    try:
        from scipy.special import erf
        return erf
    except ImportError:
        return np.vectorize(math.erf, otypes=[float])


_ERF: list = []


@primitive
def erf(x):
    if backend.is_device_array(x):         # CuPy: its own erf (cupyx.scipy.special)
        from cupyx.scipy.special import erf as device_erf
        return device_erf(x)
    if not _ERF:
        _ERF.append(_erf_forward())
    return _ERF[0](x).astype(x.dtype, copy=False)


@erf.defvjp
def erf_vjp(m, needs, g, out, x):
    return (g * (2.0 / math.sqrt(math.pi)) * m.exp(-(x * x)),)


# --------------------------------------------------------------------- piecewise


@primitive
def abs_(x):
    return np.abs(x)


@abs_.defvjp
def abs_vjp(m, needs, g, out, x):
    return (g * m.sign(x),)


@primitive
def sign(x):
    return np.sign(x)


@sign.defvjp
def sign_vjp(m, needs, g, out, x):
    return (None,)  # zero almost everywhere


@primitive
def relu(x):
    return np.maximum(x, 0)


@relu.defvjp
def relu_vjp(m, needs, g, out, x):
    return (g * (x > 0),)


@primitive
def leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, x * slope)


@leaky_relu.defvjp
def leaky_relu_vjp(m, needs, g, out, x, slope=0.01):
    return (m.where(x > 0, g, g * slope),)


@primitive
def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


@elu.defvjp
def elu_vjp(m, needs, g, out, x, alpha=1.0):
    return (m.where(x > 0, g, g * (out + alpha)),)


@primitive
def maximum(x, y):
    return np.maximum(x, y)


@maximum.defvjp
def maximum_vjp(m, needs, g, out, x, y):
    # ties split the gradient in half, as torch does
    half = m.where(x == y, g * 0.5, 0.0)
    gx = m.where(x > y, g, half) if needs[0] else None
    gy = m.where(x < y, g, half) if needs[1] else None
    return gx, gy


@primitive
def minimum(x, y):
    return np.minimum(x, y)


@minimum.defvjp
def minimum_vjp(m, needs, g, out, x, y):
    half = m.where(x == y, g * 0.5, 0.0)
    gx = m.where(x < y, g, half) if needs[0] else None
    gy = m.where(x > y, g, half) if needs[1] else None
    return gx, gy


@primitive
def clip(x, lo=None, hi=None):
    return np.clip(x, lo, hi)


@clip.defvjp
def clip_vjp(m, needs, g, out, x, lo=None, hi=None):
    inside = (x >= (-np.inf if lo is None else lo)) * (x <= (np.inf if hi is None else hi))
    return (g * inside,)


@primitive
def where(cond, x, y):
    return np.where(cond, x, y)


@where.defvjp
def where_vjp(m, needs, g, out, cond, x, y):
    gx = m.where(cond, g, 0.0) if needs[1] else None
    gy = m.where(cond, 0.0, g) if needs[2] else None
    return None, gx, gy


@primitive
def astype(x, dtype):
    return x.astype(dtype)


@astype.defvjp
def astype_vjp(m, needs, g, out, x, dtype):
    return (m.astype(g, dtype=x.dtype),)
