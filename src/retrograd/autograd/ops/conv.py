"""Patch extraction for convolution and pooling: ``unfold`` (im2col) and its adjoint ``fold`` (col2im).

Both are linear, and each one's VJP is the other, so a convolution written as
``unfold`` + one matrix product has derivatives of every order with no rule
of its own. ``unfold`` reads every patch through one strided view
(``numpy.lib.stride_tricks.as_strided``) and copies it out once; ``fold``
adds the patches back with one strided add per kernel offset.

Layout: ``x`` is (N, C, *spatial) with 1 to 3 spatial axes; the patches come
out as (N, *out_spatial, C, *kernel), so that reshaping to
(N * prod(out), C * prod(kernel)) gives the GEMM operand directly.
"""
import itertools

import numpy as np

from .registry import primitive


def out_size(size, k, stride, pad, dil):
    """Output length of one spatial axis (PyTorch's formula)."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def _padded(x, padding, value):
    if not any(padding):
        return x
    width = ((0, 0), (0, 0)) + tuple((p, p) for p in padding)
    return np.pad(x, width, mode="constant", constant_values=value)


@primitive
def unfold(x, kernel, stride, padding, dilation, pad_value=0.0):
    d = len(kernel)
    xp = _padded(x, padding, pad_value)
    outs = tuple(out_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i]) for i in range(d))
    s = xp.strides
    shape = (x.shape[0],) + outs + (x.shape[1],) + tuple(kernel)
    strides = ((s[0],) + tuple(s[2 + i] * stride[i] for i in range(d)) + (s[1],)
               + tuple(s[2 + i] * dilation[i] for i in range(d)))
    view = np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)
    return np.ascontiguousarray(view)


@unfold.defvjp
def unfold_vjp(m, needs, g, out, x, kernel, stride, padding, dilation, pad_value=0.0):
    return (m.fold(g, size=tuple(x.shape[2:]), kernel=kernel, stride=stride, padding=padding,
                   dilation=dilation),)


@primitive
def fold(cols, size, kernel, stride, padding, dilation):
    d = len(kernel)
    n, c = cols.shape[0], cols.shape[1 + d]
    outs = cols.shape[1:1 + d]
    padded = tuple(size[i] + 2 * padding[i] for i in range(d))
    z = np.zeros((n, c) + padded, dtype=cols.dtype)
    # move channels next to the batch axis once: (N, C, *out, *kernel)
    moved = np.moveaxis(cols, 1 + d, 1)
    for offs in itertools.product(*(range(k) for k in kernel)):
        target = tuple(slice(o * dilation[i], o * dilation[i] + stride[i] * (outs[i] - 1) + 1, stride[i])
                       for i, o in enumerate(offs))
        z[(slice(None), slice(None)) + target] += moved[(Ellipsis,) + offs]
    if not any(padding):
        return z
    crop = tuple(slice(p, p + size[i]) for i, p in enumerate(padding))
    return z[(slice(None), slice(None)) + crop]


@fold.defvjp
def fold_vjp(m, needs, g, out, cols, size, kernel, stride, padding, dilation):
    return (m.unfold(g, kernel=kernel, stride=stride, padding=padding, dilation=dilation),)
