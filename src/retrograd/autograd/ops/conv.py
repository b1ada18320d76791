"""Patch extraction for convolution and pooling: ``unfold`` (im2col) and its adjoint ``fold`` (col2im).

Both are linear, and each one's VJP is the other, so a convolution written as
``unfold`` + one matrix product has derivatives of every order with no rule
of its own. ``unfold`` reads every patch through one strided view
(``numpy.lib.stride_tricks.as_strided``) and copies it out once; ``fold``
adds the patches back with one strided add per kernel offset.

Layout: ``x`` is (N, C, *spatial) with 1 to 3 spatial axes; the patches come
out as (N, *out_spatial, C, *kernel), so that reshaping to
(N * prod(out), C * prod(kernel)) gives the GEMM operand directly.

``conv`` and ``max_pool`` are one primitive each, written plainly on top
of them: patches, then one matrix product per group (conv) or a maximum over
each window (max_pool). Their array VJPs are hand-written (three products and
a ``fold``; a scatter of the gradient to each window's first maximum), and
under ``create_graph`` each is differentiated through its composite of
recorded ops. The fast versions (batch-last patches, pooled memory, a helper
thread, BLAS thread limits) are in ``retrograd/accel/conv.py``.
"""
import itertools
import math

import numpy as np

from ... import backend
from .registry import TENSOR_MATH, primitive


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
    if type(xp) is np.ndarray:
        view = np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)
        return np.ascontiguousarray(view)
    device = backend.array_module(xp)       # CuPy: its own strided view, copied out on the GPU
    return device.ascontiguousarray(device.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides))


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
    z = np.zeros((n, c) + padded, dtype=cols.dtype) if type(cols) is np.ndarray else \
        np.zeros_like(cols, shape=(n, c) + padded)          # on the GPU for CuPy patches
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


# --------------------------------------------------------------------- convolution


def _geometry(x, w, stride, padding, dilation):
    """(spatial axes, kernel, output sizes) of a convolution of x (N, C, *S) by w (out, C/groups, *kernel)."""
    d = w.ndim - 2
    kernel = tuple(w.shape[2:])
    outs = tuple(out_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i]) for i in range(d))
    return d, kernel, outs


def _grouped(cols, n_rows, groups):
    """Patches (N, *out, C, *kernel) as one matrix per group: (groups, N * prod(out), C/groups * prod(kernel))."""
    return cols.reshape(n_rows, groups, -1).transpose(1, 0, 2)


@primitive(saves=True)
def conv(x, w, b, stride, padding, dilation, groups):
    """Cross-correlation of x (N, C, *S) with w (out, C/groups, *kernel), plus b: (N, out, *out_spatial).

    Each output pixel is the dot product of its input patch with each filter
    of its group; all of them at once are one matrix product per group over
    the patches, which are kept for the weight gradient.
    """
    d, kernel, outs = _geometry(x, w, stride, padding, dilation)
    n, out_ch = x.shape[0], w.shape[0]
    cols = unfold.forward(x, kernel, stride, padding, dilation)            # (N, *outs, C, *kernel)
    rows = _grouped(cols, n * math.prod(outs), groups)                     # (G, N*L, C/G * K)
    filters = w.reshape(groups, out_ch // groups, -1)                      # (G, out/G, C/G * K)
    y = np.matmul(rows, filters.transpose(0, 2, 1))                        # (G, N*L, out/G)
    y = y.transpose(1, 0, 2).reshape((n,) + outs + (out_ch,)) + b
    return np.moveaxis(y, -1, 1), cols


@conv.defvjp
def conv_vjp(m, needs, g, out, x, w, b, stride, padding, dilation, groups, saved=None):
    d, kernel, outs = _geometry(x, w, stride, padding, dilation)
    n, out_ch = x.shape[0], w.shape[0]
    n_rows = n * math.prod(outs)
    cols = saved if saved is not None else unfold.forward(x, kernel, stride, padding, dilation)
    g_rows = np.moveaxis(g, 1, -1).reshape(n_rows, groups, -1).transpose(1, 0, 2)    # (G, N*L, out/G)
    filters = w.reshape(groups, out_ch // groups, -1)
    gx = gw = gb = None
    if needs[0]:
        d_rows = np.matmul(g_rows, filters)                                # (G, N*L, C/G * K)
        d_cols = d_rows.transpose(1, 0, 2).reshape(cols.shape)
        gx = fold.forward(d_cols, tuple(x.shape[2:]), kernel, stride, padding, dilation)
    if needs[1]:
        gw = np.matmul(g_rows.transpose(0, 2, 1), _grouped(cols, n_rows, groups)).reshape(w.shape)
    if needs[2]:
        gb = g_rows.transpose(1, 0, 2).reshape(n_rows, out_ch).sum(axis=0)
    return gx, gw, gb


@conv.defcomposite
def conv_composite(x, w, b, stride, padding, dilation, groups):
    """The same convolution as recorded ops (unfold + matmul), for create_graph."""
    T = TENSOR_MATH
    d, kernel, outs = _geometry(x, w, stride, padding, dilation)
    n, out_ch = x.shape[0], w.shape[0]
    cols = T.unfold(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    rows = T.transpose(T.reshape(cols, shape=(n * math.prod(outs), groups, -1)), axes=(1, 0, 2))
    filters = T.transpose(T.reshape(w, shape=(groups, out_ch // groups, -1)), axes=(0, 2, 1))
    y = T.transpose(T.matmul(rows, filters), axes=(1, 0, 2))
    y = T.reshape(y, shape=(n,) + outs + (out_ch,)) + b
    return T.transpose(y, axes=(0, d + 1) + tuple(range(1, d + 1)))


# --------------------------------------------------------------------- max-pool


def _windows_of(x, kernel, stride, padding):
    """Every window of x (N, C, *S) as one row: (N, *out, C, prod(kernel)), padded with -inf."""
    cols = unfold.forward(x, kernel, stride, padding, (1,) * len(kernel), -np.inf)
    return cols.reshape(cols.shape[:-len(kernel)] + (-1,))


@primitive
def max_pool(x, kernel, stride, padding):
    """The maximum of each window: (N, C, *out)."""
    y = _windows_of(x, kernel, stride, padding).max(axis=-1)             # (N, *out, C)
    return np.moveaxis(y, -1, 1)


@max_pool.defvjp
def max_pool_vjp(m, needs, g, out, x, kernel, stride, padding):
    """The gradient goes to each window's first maximum (as PyTorch), and the windows are folded back."""
    windows = _windows_of(x, kernel, stride, padding)
    first = np.argmax(windows, axis=-1)[..., None]
    picked = np.moveaxis(g, 1, -1)[..., None]
    if type(windows) is np.ndarray:
        d_windows = np.zeros_like(windows)
        np.put_along_axis(d_windows, first, picked, axis=-1)
    else:                                   # CuPy: the same scatter as a comparison with the window offsets
        offsets = backend.array_module(windows).arange(windows.shape[-1])
        d_windows = np.where(offsets == first, picked, 0).astype(windows.dtype, copy=False)
    d_cols = d_windows.reshape(d_windows.shape[:-1] + tuple(kernel))
    return (fold.forward(d_cols, tuple(x.shape[2:]), kernel, stride, padding, (1,) * len(kernel)),)


@max_pool.defcomposite
def max_pool_composite(x, kernel, stride, padding):
    """Max-pool as recorded ops; the first maximum of each window takes the gradient (as PyTorch)."""
    T = TENSOR_MATH
    d = len(kernel)
    cols = T.unfold(x, kernel=kernel, stride=stride, padding=padding, dilation=(1,) * d, pad_value=-np.inf)
    lead = cols.shape[:2 + d]
    flat = T.reshape(cols, shape=lead + (math.prod(kernel),))
    first = np.argmax(flat.data, axis=-1)[..., None]
    y = T.reshape(T.take_along_axis(flat, idx=first, axis=len(lead)), shape=lead)
    return T.transpose(y, axes=(0, d + 1) + tuple(range(1, d + 1)))
