"""Fused softmax cross-entropy with class-index targets: one primitive instead of about ten.

``softmax_cross_entropy(z, target, reduction)`` gives the per-row loss
``logsumexp(z_i) - z_i[target_i]`` for logits z (N, C) and integer targets
(N,), or its mean or sum. The forward keeps the softmax it computes anyway,
so the VJP, ``g_i * (softmax(z_i) - onehot(target_i))``, is two NumPy calls
when no graph is wanted; under ``create_graph`` it is written with recorded
ops, so second derivatives still work. It exists for speed: in W2
(digits-mlp) the composed loss took about 40% of each training step.
"""
import numpy as np

from ... import backend
from .registry import ARRAY_MATH, primitive

REDUCTIONS = ("none", "mean", "sum")
_ROWS: dict = {}      # n -> read-only arange(n): the row index of every pick, made once per batch size


def _rows(n, like):
    """arange(n) on ``like``'s device (kept for NumPy: the row index of every pick, made once per batch size)."""
    if type(like) is not np.ndarray:
        return backend.array_module(like).arange(n)
    rows = _ROWS.get(n)
    if rows is None:
        if len(_ROWS) > 64:
            _ROWS.clear()
        rows = _ROWS[n] = np.arange(n)
        rows.flags.writeable = False
    return rows


def _row_max(z):
    """max over axis 1, kept (NumPy's ufunc method is the fastest spelling; CuPy's arrays use the method)."""
    return np.maximum.reduce(z, axis=1, keepdims=True) if type(z) is np.ndarray else z.max(axis=1, keepdims=True)


def _row_sum(p):
    return np.add.reduce(p, axis=1, keepdims=True) if type(p) is np.ndarray else p.sum(axis=1, keepdims=True)


def _check(z, target, reduction):
    if z.ndim != 2 or target.shape != z.shape[:1]:
        raise ValueError(f"softmax_cross_entropy: logits must be (N, C) and targets (N,), got "
                         f"{z.shape} and {target.shape}")
    kind = target.dtype.kind
    if kind not in "iu":
        raise TypeError(f"softmax_cross_entropy: targets must be integer class indices, got "
                        f"{target.dtype}")
    if kind == "i" and target.size and type(target) is np.ndarray and np.minimum.reduce(target) < 0:
        raise ValueError(f"softmax_cross_entropy: class indices must lie in [0, {z.shape[1]}), got "
                         f"{int(np.minimum.reduce(target))}")          # (NumPy would wrap them)
    if reduction not in REDUCTIONS:
        raise ValueError(f"softmax_cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")


@primitive(saves=True)
def softmax_cross_entropy(z, target, reduction="none"):
    _check(z, target, reduction)
    n = len(z)
    shifted = z - _row_max(z)
    picked = shifted[_rows(n, z), target]
    p = np.exp(shifted, out=shifted)
    total = _row_sum(p)
    p /= total                                                # the softmax, for the VJP
    loss = np.log(total.reshape(n))
    if reduction == "none":
        loss -= picked
        return loss, p
    # sum of (log total - picked) as two sums: both terms are >= 0, so nothing cancels
    if type(z) is not np.ndarray:                             # CuPy: the loss stays on the device
        loss = loss.sum() - picked.sum()
        return (loss / max(1, n) if reduction == "mean" else loss), p
    # NumPy: the scalars as Python floats (NumPy scalar arithmetic costs a microsecond an operation)
    loss = float(np.add.reduce(loss)) - float(np.add.reduce(picked))
    return z.dtype.type(loss / max(1, n) if reduction == "mean" else loss), p


def _row_weights(m, g, n, reduction):
    """The cotangent of each row's loss (recorded): g itself, or g spread over the rows (mean, sum)."""
    if reduction == "none":
        return g
    scale = 1.0 / max(1, n) if reduction == "mean" else 1.0
    return m.broadcast_to(m.reshape(g * scale, shape=(1,)), shape=(n,))


@softmax_cross_entropy.defvjp
def softmax_cross_entropy_vjp(m, needs, g, out, z, target, reduction="none", saved=None):
    n, c = z.shape
    if m is ARRAY_MATH:
        if saved is None:
            saved = np.exp(z - z.max(axis=1, keepdims=True))
            saved /= saved.sum(axis=1, keepdims=True)
        if reduction == "none":
            dz = saved * g[:, None]                           # never in place: the graph may be retained
            dz[_rows(n, dz), target] -= g
        else:                                                 # every row has the same weight
            w = g if type(g) is not np.ndarray else float(g)   # NumPy: a Python float scales faster
            w = w / max(1, n) if reduction == "mean" else w
            dz = saved * w
            dz[_rows(n, dz), target] -= w
        return dz, None
    g = _row_weights(m, g, n, reduction)
    onehot = np.zeros_like(z.data, shape=(n, c))               # on z's device
    onehot[_rows(n, onehot), target.data if hasattr(target, "data") else target] = 1
    p = m.exp(z - m.logsumexp(z, axis=(1,), keepdims=True))
    return (p - onehot) * m.reshape(g, shape=(n, 1)), None
