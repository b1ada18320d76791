"""Softmax cross-entropy on the GPU: one kernel for the row maxima, the softmax and each row's loss.

The reference (``autograd/ops/softmax_xent.py``) on CuPy is about ten
kernels (maximum, shift, pick, exp, sum, divide, log, sums). Here one
thread per row finds its maximum, writes the softmax (kept for the VJP, as
the reference keeps it) and its loss ``log Σ exp(z - max) - (z_t - max)``.
An index outside [0, C) gives that row a NaN loss instead of an error:
checking on the host would wait for the GPU at every call (docs/gpu.md).
The VJP is the reference's (two kernels on the saved softmax).
"""
from typing import Any

from ..autograd.ops.registry import OPS
from .cuda_common import all_on_gpu, available, cupy_module, kernel

_ROWS = """
long long at = (long long)i * C;
T top = z[at];
for (int k = 1; k < C; ++k) top = max(top, z[at + k]);
T total = 0;
for (int k = 0; k < C; ++k) { T e = exp(z[at + k] - top); p[at + k] = e; total += e; }
for (int k = 0; k < C; ++k) p[at + k] /= total;
long long t = target;
loss = (t < 0 || t >= C) ? log((T)-1) : log(total) - (z[at + t] - top);
"""


def _rows_kernel(cp: Any) -> Any:
    return cp.ElementwiseKernel("raw T z, int64 target, int32 C", "raw T p, T loss", _ROWS,
                                "retrograd_softmax_xent_rows")


def softmax_cross_entropy(z: Any, target: Any, reduction: str = "none") -> tuple:
    """(loss, softmax) as the reference gives them, from one kernel over the rows."""
    cp = cupy_module()
    n, c = z.shape
    if target.shape != (n,) or target.dtype.kind not in "iu" or reduction not in ("none", "mean", "sum"):
        OPS["softmax_cross_entropy"].forward(z, target, reduction)     # the reference says what is wrong
    z = z if z.flags.c_contiguous else cp.ascontiguousarray(z)
    p = cp.empty_like(z)
    loss = cp.empty(n, dtype=z.dtype)
    kernel("softmax_xent", _rows_kernel)(z, target.astype(cp.int64, copy=False), c, p, loss)
    if reduction == "none":
        return loss, p
    total = loss.sum()
    return (total / max(1, n) if reduction == "mean" else total), p


def _on_gpu(z: Any, target: Any, **params: Any) -> bool:
    return all_on_gpu(z) and hasattr(target, "dtype") and type(target) is type(z) and z.ndim == 2


def register() -> None:
    """The one-kernel forward of softmax cross-entropy on CuPy logits (the reference's VJP)."""
    if not available():
        return
    op = OPS["softmax_cross_entropy"]
    op.accelerate(forward=softmax_cross_entropy, vjp=op.vjp, when=_on_gpu)
