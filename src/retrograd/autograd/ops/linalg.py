"""Matrix product primitive (1-D, 2-D and batched, NumPy's matmul semantics)."""
import numpy as np

from .registry import ARRAY_MATH, primitive


@primitive
def matmul(x, y):
    return np.matmul(x, y)


def _swap(m, a):
    axes = tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2)
    return m.transpose(a, axes=axes)


@matmul.defvjp
def matmul_vjp(m, needs, g, out, x, y):
    gx = gy = None
    if x.ndim == 1 and y.ndim == 1:                      # inner product
        return (g * y if needs[0] else None), (g * x if needs[1] else None)
    if x.ndim == 1:                                      # (n) @ (..., n, k) -> (..., k)
        g2 = m.reshape(g, shape=g.shape[:-1] + (1, g.shape[-1]))
        if needs[0]:
            gx = m.reshape(m.matmul(g2, _swap(m, y)), shape=g.shape[:-1] + (x.shape[0],))
        if needs[1]:
            gy = m.matmul(m.reshape(x, shape=(x.shape[0], 1)), g2)
        return gx, gy
    if y.ndim == 1:                                      # (..., m, n) @ (n) -> (..., m)
        g2 = m.reshape(g, shape=g.shape + (1,))
        if needs[0]:
            gx = m.matmul(g2, m.reshape(y, shape=(1, y.shape[0])))
        if needs[1]:
            gy = m.reshape(m.matmul(_swap(m, x), g2), shape=g.shape[:-1] + (y.shape[0],))
        return gx, gy
    if needs[0]:
        gx = m.matmul(g, _swap(m, y))
    if needs[1]:
        if y.ndim == 2 and x.ndim > 2:
            # a shared weight under a batch of inputs: one big GEMM instead of a
            # batch of products summed afterwards
            n, k = x.shape[-1], g.shape[-1]
            gy = m.matmul(m.transpose(m.reshape(x, shape=(-1, n))), m.reshape(g, shape=(-1, k)))
        else:
            gy = m.matmul(_swap(m, x), g)
    return gx, gy


@primitive
def linear(x, w, b):
    """``x @ w + b`` as one op: a dense layer's forward and backward without the separate add.

    Fused for speed (a training step of a small MLP is a handful of ops, so
    each one saved is felt); the bias is added into the fresh product in place
    when that changes no dtype.
    """
    out = np.matmul(x, w)
    if b is None:
        return out
    if getattr(b, "dtype", None) == out.dtype and out.ndim >= b.ndim:
        out += b
        return out
    return out + b


def _column_sums(g):
    """``g.sum(axis=0)``; for NumPy straight through the ufunc (``ndarray.sum`` adds a Python-level frame)."""
    return np.add.reduce(g, axis=0) if type(g) is np.ndarray else g.sum(axis=0)


@linear.defvjp
def linear_vjp(m, needs, g, out, x, w, b):
    if m is ARRAY_MATH and x.ndim == 2 and w.ndim == 2 and getattr(b, "ndim", 0) == 1:
        # the dense layer's case, written out: each rule call is felt in a small MLP's step
        return ((np.matmul(g, w.T) if needs[0] else None),
                (np.matmul(x.T, g) if needs[1] else None),
                (_column_sums(g) if needs[2] else None))
    gx, gw = matmul_vjp(m, needs, g, None, x, w)     # the product's output is not needed
    return gx, gw, (g if needs[2] else None)
