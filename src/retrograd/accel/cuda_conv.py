"""Convolution on the GPU: cuBLAS products over the patches (the reference's), and one col2im kernel.

On CuPy the reference convolution already is the fast form: the patches are
one strided copy (``unfold``), the products are batched cuBLAS GEMMs. Its
``fold`` (the input gradient, adding the patches back) is one strided add
per kernel offset, nine kernels for a 3x3 filter; here a 2-D fold is one
kernel in which each thread sums the patch entries that cover its input
pixel, in the reference's order of kernel offsets (no atomics, so the sums
are deterministic). Other ranks keep the reference.
"""
import math
from typing import Any

from ..autograd.ops import conv as ref
from ..autograd.ops.registry import OPS
from .cuda_common import all_on_gpu, available, contiguous, cupy_module, kernel

_FOLD2D = """
int x = i % W; long long r = i / W; int y = r % H; r /= H; int c = r % C; long long n = r / C;
T acc = 0;
for (int ky = 0; ky < KH; ++ky) {
    int yy = y + PH - ky * DH;
    if (yy < 0 || yy % SH != 0) continue;
    int oy = yy / SH;
    if (oy >= OH) continue;
    for (int kx = 0; kx < KW; ++kx) {
        int xx = x + PW - kx * DW;
        if (xx < 0 || xx % SW != 0) continue;
        int ox = xx / SW;
        if (ox >= OW) continue;
        acc += cols[(((n * OH + oy) * OW + ox) * C + c) * (long long)(KH * KW) + ky * KW + kx];
    }
}
out = acc;
"""


def _fold_kernel(cp: Any) -> Any:
    return cp.ElementwiseKernel(
        "raw T cols, int32 C, int32 H, int32 W, int32 OH, int32 OW, int32 KH, int32 KW, "
        "int32 SH, int32 SW, int32 PH, int32 PW, int32 DH, int32 DW", "T out", _FOLD2D, "retrograd_fold2d")


def fold2d(cols: Any, size: tuple, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple) -> Any:
    """The reference's ``fold`` of (N, OH, OW, C, KH, KW) patches into (N, C, H, W), as one kernel."""
    cp = cupy_module()
    n, oh, ow, c, kh, kw = cols.shape
    h, w = size
    out = cp.empty((n, c, h, w), dtype=cols.dtype)
    kernel("fold2d", _fold_kernel)(contiguous(cols), c, h, w, oh, ow, kh, kw, stride[0], stride[1],
                                   padding[0], padding[1], dilation[0], dilation[1], out)
    return out


def _fold_any(d_cols: Any, size: tuple, kernel_size: tuple, stride: tuple, padding: tuple,
              dilation: tuple) -> Any:
    """fold2d for 2-D patches, the reference's fold for 1-D and 3-D."""
    if len(kernel_size) == 2:
        return fold2d(d_cols, size, kernel_size, stride, padding, dilation)
    return ref.fold.forward(d_cols, size, kernel_size, stride, padding, dilation)


def conv_vjp(m: Any, needs: Any, g: Any, out: Any, x: Any, w: Any, b: Any, stride: tuple, padding: tuple,
             dilation: tuple, groups: int, saved: Any = None) -> tuple:
    """The reference's weight and bias gradients; the input gradient's patches folded by one kernel."""
    reference = OPS["conv"].vjp
    assert reference is not None
    _, gw, gb = reference(m, (False, needs[1], needs[2]), g, out, x, w, b, stride, padding, dilation, groups,
                          saved=saved)
    gx = None
    if needs[0]:
        d, kernel_size, outs = ref._geometry(x, w, stride, padding, dilation)
        n, out_ch = x.shape[0], w.shape[0]
        n_rows = n * math.prod(outs)
        g_rows = g.transpose((0,) + tuple(range(2, 2 + d)) + (1,)).reshape(n_rows, groups, -1).transpose(1, 0, 2)
        d_rows = g_rows @ w.reshape(groups, out_ch // groups, -1)             # (G, N*L, C/G * K)
        d_cols = d_rows.transpose(1, 0, 2).reshape((n,) + outs + (x.shape[1],) + kernel_size)
        gx = _fold_any(d_cols, tuple(x.shape[2:]), kernel_size, stride, padding, dilation)
    return gx, gw, gb


def max_pool_vjp(m: Any, needs: Any, g: Any, out: Any, x: Any, kernel: tuple, stride: tuple,
                 padding: tuple) -> tuple:
    """The gradient to each window's first maximum (as the reference), folded back by one kernel."""
    cp = cupy_module()
    windows = ref._windows_of(x, kernel, stride, padding)
    first = windows.argmax(axis=-1)[..., None]
    picked = cp.moveaxis(g, 1, -1)[..., None]
    d_windows = cp.where(cp.arange(windows.shape[-1]) == first, picked, 0).astype(windows.dtype, copy=False)
    d_cols = d_windows.reshape(d_windows.shape[:-1] + tuple(kernel))
    return (_fold_any(d_cols, tuple(x.shape[2:]), kernel, stride, padding, (1,) * len(kernel)),)


def _on_gpu(*arrays: Any, **params: Any) -> bool:
    return all_on_gpu(*arrays)


def register() -> None:
    """The convolution's and max-pool's input gradients folded by one kernel, on CuPy arrays."""
    if not available():
        return
    OPS["conv"].accelerate(vjp=conv_vjp, when=_on_gpu)
    OPS["max_pool"].accelerate(vjp=max_pool_vjp, when=_on_gpu)
