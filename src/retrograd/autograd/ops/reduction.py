"""Reduction primitives (sum, mean, prod, max, min, logsumexp) and the broadcast pair sum_to / broadcast_to.

Axes reach these forwards already normalised by the public wrappers: None
(all axes) or a tuple of non-negative ints.
"""
import math

import numpy as np

from .registry import ARRAY_MATH, primitive


def kept_shape(shape, axis):
    """The shape of a keepdims=True reduction of ``shape`` over ``axis``."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else s for i, s in enumerate(shape))


def _count(shape, axis):
    if axis is None:
        return math.prod(shape)
    return math.prod(shape[i] for i in axis)


def _spread(m, g, x, axis, keepdims):
    """Bring a reduced gradient back to x's shape."""
    if not keepdims:
        g = m.reshape(g, shape=kept_shape(x.shape, axis))
    return m.broadcast_to(g, shape=x.shape)


@primitive
def sum_(x, axis=None, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)


@sum_.defvjp
def sum_vjp(m, needs, g, out, x, axis=None, keepdims=False):
    return (_spread(m, g, x, axis, keepdims),)


@primitive
def mean(x, axis=None, keepdims=False):
    if x.dtype.kind == "f" and x.dtype.itemsize >= 4 and x.size:
        # what numpy's mean does for float32/64 (sum, then one true division), minus its
        # Python-level dispatch, which costs more than the arithmetic on small arrays
        return np.true_divide(x.sum(axis=axis, keepdims=keepdims), _count(x.shape, axis))
    return x.mean(axis=axis, keepdims=keepdims)


@mean.defvjp
def mean_vjp(m, needs, g, out, x, axis=None, keepdims=False):
    scale = 1.0 / max(1, _count(x.shape, axis))
    if m is ARRAY_MATH and axis is None:  # the usual loss mean: one fill instead of three ops
        out = np.empty_like(x, dtype=g.dtype)   # dispatches to CuPy for GPU arrays
        out[...] = g.reshape(()) * scale
        return (out,)
    return (_spread(m, g, x, axis, keepdims) * scale,)


@primitive
def prod(x, axis=None, keepdims=False):
    return x.prod(axis=axis, keepdims=keepdims)


@prod.defvjp
def prod_vjp(m, needs, g, out, x, axis=None, keepdims=False):
    # d prod / d x_i = prod / x_i; inputs are assumed nonzero (as in autograd's rule)
    return (_spread(m, g * out, x, axis, keepdims) / x,)


def _extremum_vjp(m, g, out, x, axis, keepdims):
    """Gradient of max/min: shared equally among the elements that attain it."""
    shape = kept_shape(x.shape, axis)
    hit = x == (out if keepdims else m.reshape(out, shape=shape))
    count = m.sum(hit, axis=axis, keepdims=True)
    return (_spread(m, g, x, axis, keepdims) * hit / count,)


@primitive
def max_(x, axis=None, keepdims=False):
    return x.max(axis=axis, keepdims=keepdims)


@max_.defvjp
def max_vjp(m, needs, g, out, x, axis=None, keepdims=False):
    return _extremum_vjp(m, g, out, x, axis, keepdims)


@primitive
def min_(x, axis=None, keepdims=False):
    return x.min(axis=axis, keepdims=keepdims)


@min_.defvjp
def min_vjp(m, needs, g, out, x, axis=None, keepdims=False):
    return _extremum_vjp(m, g, out, x, axis, keepdims)


@primitive
def logsumexp(x, axis=None, keepdims=False):
    top = x.max(axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)  # all -inf rows stay -inf instead of NaN
    out = np.log(np.exp(x - top).sum(axis=axis, keepdims=True)) + top
    if keepdims:
        return out
    return out.reshape(()) if axis is None else out.squeeze(axis)


@logsumexp.defvjp
def logsumexp_vjp(m, needs, g, out, x, axis=None, keepdims=False):
    shape = kept_shape(x.shape, axis)
    if not keepdims:
        g = m.reshape(g, shape=shape)
        out = m.reshape(out, shape=shape)
    return (g * m.exp(x - out),)


@primitive
def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (undoing NumPy broadcasting)."""
    lead = x.ndim - len(shape)
    ones = tuple(i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
    if not ones:
        return x.sum(axis=tuple(range(lead))) if lead else x
    r = x.sum(axis=tuple(range(lead)) + ones, keepdims=True)
    return r.reshape(shape) if lead else r


@sum_to.defvjp
def sum_to_vjp(m, needs, g, out, x, shape):
    return (m.broadcast_to(g, shape=x.shape),)


@primitive
def broadcast_to(x, shape):
    if np.size(x) == 1:
        # a one-element gradient (the usual loss seed) spreads faster by filling than by a view
        out = np.empty_like(x, shape=shape)  # dispatches to CuPy for GPU arrays
        out[...] = np.reshape(x, ())
        return out
    return np.broadcast_to(x, shape)


@broadcast_to.defvjp
def broadcast_to_vjp(m, needs, g, out, x, shape):
    return (m.sum_to(g, shape=np.shape(x)),)


# --------------------------------------------------------------------- no gradient


@primitive
def argmax(x, axis=None, keepdims=False):
    return np.argmax(x, axis=axis, keepdims=keepdims)


@primitive
def argmin(x, axis=None, keepdims=False):
    return np.argmin(x, axis=axis, keepdims=keepdims)
