"""The convolution and max-pool fast: batch-last patches in pooled memory, mid-sized products shared with a helper thread.

The reference ``conv`` (``autograd/ops/conv.py``) takes its patches in
(N, *out, C, *kernel) order and makes one product per group; its array VJP
already is three products and one col2im. This version works batch-last,
(C, *spatial, N), and hands out (N, C, *spatial) views of that memory (see
``_im2col``): a kernel offset's window is then a run of W*N numbers instead
of W, and a chain of convolutions never transposes. Its arrays come from
the pools (``workspace.py``). Its output is the reference's array (same shape,
the same values up to rounding: the products are grouped differently).

The products are small (W5: 4096x144 @ 144x32), so they run with BLAS on one
thread: on the shared 2-core machine a second BLAS thread made each product
10x slower. Mid-sized products use the second core through a helper thread
instead (``_both``): the forward's two column halves, the backward's two
products. ``max_pool`` over windows that tile the input (the usual 2x2/2) is
kh*kw strided maxima in the input's memory order.
"""
import itertools
import math
import os
from typing import Any, Optional, Sequence

import numpy as np

from ..autograd.ops.conv import out_size
from ..autograd.ops.registry import OPS
from .blas import blas_threads
from .workspace import helper_thread, recycled, recycled_like

_SMALL_GEMM = 1 << 26   # multiply-adds below which threading a product does not pay
_PAIR_GEMM = 1 << 22    # ... and above which splitting one over two threads pays for the hand-off


def _blas_limit(macs):
    return blas_threads(1) if macs < _SMALL_GEMM else _nullcontext()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _side_by_side(macs):
    """Whether a product of ``macs`` multiply-adds should be shared with the helper thread (``_both``)."""
    if not _PAIR_GEMM <= macs < _SMALL_GEMM:
        return False                 # too small for a hand-off, or big enough for BLAS's own threads
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return len(cores) > 1


def _both(first, second):
    """Run ``first()`` on a helper thread while this thread runs ``second()``; return both results.

    NumPy releases the GIL inside matrix products and ufuncs, so the two use
    two cores when they are free. A second BLAS thread would too, but its
    idle workers spin, and on the shared 2-core machine they stalled every
    product when another job held a core; an idle helper thread sleeps.
    Measured on W5 steps there: 13% faster with the other core free, 3-8%
    slower with another job on it.
    """
    later = helper_thread("conv").submit(first)
    try:
        now = second()
    except BaseException:
        later.exception()            # wait: first() writes into arrays the caller is about to drop
        raise
    return later.result(), now


def _conv_geometry(x, w, stride, padding, dilation):
    d = w.ndim - 2
    kernel = tuple(w.shape[2:])
    outs = tuple(out_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i]) for i in range(d))
    return d, kernel, outs


def _batch_last(a):
    """The (C, *spatial, N) view of an (N, C, *spatial) array: free, contiguous if it came from ``conv``."""
    return a.transpose(tuple(range(1, a.ndim)) + (0,))


def _batch_first(a):
    """The (N, C, *spatial) view of a (C, *spatial, N) array (no copy)."""
    return a.transpose((a.ndim - 1,) + tuple(range(a.ndim - 1)))


def _windows(kernel, stride, dilation, outs):
    """Each kernel offset, with the slices of the padded input it reads (one per spatial axis)."""
    for offs in itertools.product(*(range(k) for k in kernel)):
        yield offs, tuple(slice(o * dl, o * dl + s * (n - 1) + 1, s)
                          for o, s, dl, n in zip(offs, stride, dilation, outs))


def _im2col(x, kernel, stride, padding, dilation, outs):
    """Patches of x (N, C, *S) in the batch-last GEMM layout (C, *kernel, *out, N): one block copy per offset.

    Batch-last, a kernel offset's window has contiguous runs of W*N numbers
    instead of W, which is what makes the copies (and ``_col2im``'s adds) cheap
    for small images. ``W (out, C*K) @ cols (C*K, L*N)`` then lands in
    (out, *out_spatial, N): batch-last again, so a chain of convolutions
    never transposes.
    """
    xt = _batch_last(x)
    c, size, n = xt.shape[0], xt.shape[1:-1], xt.shape[-1]
    if any(padding):
        xp = recycled("padded", (c,) + tuple(s + 2 * p for s, p in zip(size, padding)) + (n,), x.dtype)
        xp.fill(0)
        xp[(slice(None),) + tuple(slice(p, p + s) for s, p in zip(size, padding))] = xt
    else:
        xp = xt
    cols = recycled("cols", (c,) + tuple(kernel) + tuple(outs) + (n,), x.dtype)
    for offs, window in _windows(kernel, stride, dilation, outs):
        cols[(slice(None),) + offs] = xp[(slice(None),) + window]
    return cols


def _inside(o, size, stride, pad, dil, n_out):
    """Kernel offset ``o`` on one axis: (output slice, input slice) where it reads the unpadded input, or None."""
    first = max(0, -((o * dil - pad) // stride))              # ceil((pad - o*dil) / stride)
    last = min(n_out - 1, (size - 1 + pad - o * dil) // stride)
    if last < first:
        return None
    start = o * dil + first * stride - pad
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


def _col2im(dcols, size, kernel, stride, padding, dilation, outs):
    """The adjoint of ``_im2col``: add each kernel offset's block back into the image, returned as (N, C, *S).

    Each block is added only where it lies inside the image, so no padded
    buffer is filled and cropped (the adds dominate; the crop made the
    result a strided view for the ops after it).
    """
    c, n = dcols.shape[0], dcols.shape[-1]
    z = recycled("col2im", (c,) + tuple(size) + (n,), dcols.dtype)
    z.fill(0)
    for offs in itertools.product(*(range(k) for k in kernel)):
        parts = [_inside(*a) for a in zip(offs, size, stride, padding, dilation, outs)]
        if None in parts:
            continue                                          # this offset only ever reads padding
        z[(slice(None),) + tuple(i for _, i in parts)] += dcols[(slice(None),) + offs + tuple(o for o, _ in parts)]
    return _batch_first(z)


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple, padding: tuple, dilation: tuple,
         groups: int) -> tuple[np.ndarray, np.ndarray]:
    """The convolution; also returns its patches, which the weight gradient reuses.

    The output is an (N, out, *S) view over batch-last memory, so the next
    convolution (after element-wise ops, which keep the memory order) reads
    its input without a copy.
    """
    d, kernel, outs = _conv_geometry(x, w, stride, padding, dilation)
    n, out_ch = x.shape[0], w.shape[0]
    cols = _im2col(x, kernel, stride, padding, dilation, outs)
    k, cols_n = w[0].size * groups, n * math.prod(outs)
    macs = k * cols_n * out_ch // groups
    with _blas_limit(macs):
        y = recycled("conv", (out_ch, cols_n), x.dtype)
        if groups == 1 and _side_by_side(macs):
            half = cols_n // 2           # each thread writes its own columns of y (BLAS takes the row stride)
            a, c2 = w.reshape(out_ch, k), cols.reshape(k, cols_n)
            _both(lambda: np.matmul(a, c2[:, half:], out=y[:, half:]),
                  lambda: np.matmul(a, c2[:, :half], out=y[:, :half]))
        elif groups == 1:
            np.matmul(w.reshape(out_ch, k), cols.reshape(k, cols_n), out=y)
        else:
            np.matmul(w.reshape(groups, out_ch // groups, k // groups),
                      cols.reshape(groups, k // groups, cols_n), out=y.reshape(groups, out_ch // groups, cols_n))
    y += b.reshape(-1, 1)
    return _batch_first(y.reshape((out_ch,) + outs + (n,))), cols


def conv_vjp(m: Any, needs: Sequence[bool], g: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray,
             b: np.ndarray, stride: tuple, padding: tuple, dilation: tuple, groups: int,
             saved: Optional[np.ndarray] = None) -> tuple:
    """The convolution's gradients: three products (two shared with the helper thread when mid-sized) and a col2im."""
    d, kernel, outs = _conv_geometry(x, w, stride, padding, dilation)
    n, out_ch = x.shape[0], w.shape[0]
    cols_n = n * math.prod(outs)
    k = w[0].size * groups
    g2 = _batch_last(g).reshape(out_ch, cols_n)            # free when g is laid out like our output

    def weight_grad():
        cols = saved if saved is not None else _im2col(x, kernel, stride, padding, dilation, outs)
        cols = cols.reshape(k, cols_n)
        if groups == 1:
            return (g2 @ cols.T).reshape(w.shape)
        g3 = g2.reshape(groups, out_ch // groups, cols_n)
        return np.matmul(g3, cols.reshape(groups, k // groups, cols_n).transpose(0, 2, 1)).reshape(w.shape)

    def input_grad():
        dcols = recycled("dcols", (x.shape[1],) + kernel + outs + (n,), g2.dtype)
        if groups == 1:
            np.matmul(w.reshape(out_ch, k).T, g2, out=dcols.reshape(k, cols_n))
        else:
            w3 = w.reshape(groups, out_ch // groups, k // groups)
            np.matmul(w3.transpose(0, 2, 1), g2.reshape(groups, out_ch // groups, cols_n),
                      out=dcols.reshape(groups, k // groups, cols_n))
        return _col2im(dcols, tuple(x.shape[2:]), kernel, stride, padding, dilation, outs)

    gx = gw = gb = None
    if needs[2]:
        gb = g2.sum(axis=1)
    macs = k * cols_n * out_ch // groups
    with _blas_limit(macs):
        if needs[0] and needs[1] and _side_by_side(macs):
            gw, gx = _both(weight_grad, input_grad)
        else:
            gw = weight_grad() if needs[1] else None
            gx = input_grad() if needs[0] else None
    return gx, gw, gb


def _tiles(x, kernel, stride, padding):
    """For non-overlapping, unpadded windows that tile x exactly: one strided view per kernel offset.

    The views come in the window's row-major order, so "first maximum" means
    the same element as in PyTorch. Returns None when the windows overlap,
    are padded or do not tile the input.
    """
    d = len(kernel)
    if tuple(stride) != tuple(kernel) or any(padding) or any(x.shape[2 + i] % kernel[i] for i in range(d)):
        return None
    return [(slice(None), slice(None)) + tuple(slice(o, None, k) for o, k in zip(offs, kernel))
            for offs in itertools.product(*(range(k) for k in kernel))]


def max_pool(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """Windows that tile x exactly (the common 2x2/2): the maximum of kh*kw strided views."""
    tiles = _tiles(x, kernel, stride, padding)
    y = recycled_like("pool", x[tiles[0]])                     # keep x's memory order (batch-last after conv)
    y[...] = x[tiles[0]]
    for sl in tiles[1:]:
        np.maximum(y, x[sl], out=y)
    return y


def max_pool_vjp(m: Any, needs: Sequence[bool], g: np.ndarray, out: np.ndarray, x: np.ndarray, kernel: tuple,
                 stride: tuple, padding: tuple) -> tuple:
    """The gradient to each tile's first maximum, in out's memory order."""
    # The tiles cover x exactly, so every element of gx is written. Working in
    # out's memory order (batch-last after a conv) keeps every pass contiguous.
    tiles = _tiles(x, kernel, stride, padding)
    gx = recycled_like("pool_grad", x)
    left = recycled_like("pool_left", out)
    left[...] = g                                             # the gradient not yet taken by a maximum
    for i, sl in enumerate(tiles):                            # the first maximum takes the gradient
        taken = gx[sl]
        np.multiply(left, x[sl] == out, out=taken)
        if i + 1 < len(tiles):
            left -= taken                                     # exactly 0 where taken (np.copyto(where=) is 7x slower)
    return (gx,)


def _on_numpy(*arrays, **params):
    return all(type(a) is np.ndarray for a in arrays)


def _tiled_numpy(x, kernel, stride, padding):
    return type(x) is np.ndarray and _tiles(x, kernel, stride, padding) is not None


def register() -> None:
    """Put the fused convolution and the tiled max-pool in front of the reference ops, for NumPy arrays."""
    OPS["conv"].accelerate(forward=conv, vjp=conv_vjp, when=_on_numpy)
    OPS["max_pool"].accelerate(forward=max_pool, vjp=max_pool_vjp, when=_tiled_numpy)
