"""Lazy cotangents of basic indexing: zero outside one region, made dense only where needed.

The cotangent of ``out = x[index]`` is zeros the shape of x with out's cotangent
written at ``index``. Built eagerly, that is a pass over the whole of x even
when the index picks a sliver: a model that reads the last step of an LSTM's
output sequence (``out[-1]``, through the layer's own views of its state array)
paid for two dense zero arrays and a transposing copy of the full sequence's
cotangent on every step, and the LSTM's backward then read all of it. The
engine instead keeps the cotangent as (shape, index, values): it passes through
transposes and further basic indexing unchanged in size, and becomes a dense
array when it reaches anything else, unless that op's version has a
``lazy_vjp`` (the LSTM's reads the live steps only: ``recurrent.py``).

The lazy rules of ``getitem`` and ``transpose`` are registered as their
``lazy_vjp`` (``register``): only the engine's array sweep (no
``create_graph``) calls those, so VJP rules called elsewhere (the trace replay,
the per-sample Jacobian) keep getting dense arrays.
"""
from typing import Any, Optional, Sequence

import numpy as np

from ..autograd.ops.registry import OPS, LazyCotangent
from ..autograd.ops.shape import getitem_vjp, transpose_vjp


class Scattered(LazyCotangent):
    """zeros(shape) except ``values`` at ``index``: one int or slice per axis, ints in range."""
    __slots__ = ("shape", "index", "values")

    def __init__(self, shape, index, values):
        self.shape, self.index, self.values = shape, index, values

    def dense(self):
        z = np.zeros(self.shape, self.values.dtype)
        z[self.index] = self.values
        return z

    def transposed(self, perm):
        """The cotangent of ``a.transpose(perm)`` when this is a's: axis i is this one's axis perm[i]."""
        value_axis = {}
        for pos, item in enumerate(self.index):
            if type(item) is slice:
                value_axis[pos] = len(value_axis)
        order = [value_axis[p] for p in perm if p in value_axis]
        return Scattered(tuple(self.shape[p] for p in perm), tuple(self.index[p] for p in perm),
                         self.values.transpose(order))


def dense(g):
    """g as an array (a Scattered made dense, anything else as it is)."""
    return g.dense() if type(g) is Scattered else g


def simple_index(index, shape):
    """``index`` as one non-negative int or one slice per axis of ``shape``; None for other indices
    (None, arrays, booleans, or an int out of range: those take the eager path and its errors)."""
    items = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in items):
        if sum(i is Ellipsis for i in items) > 1:
            return None
        k = items.index(Ellipsis)
        items = items[:k] + (slice(None),) * (len(shape) - len(items) + 1) + items[k + 1:]
    if len(items) > len(shape):
        return None
    items = items + (slice(None),) * (len(shape) - len(items))
    out = []
    for item, n in zip(items, shape):
        if isinstance(item, (bool, np.bool_)):
            return None
        if isinstance(item, (int, np.integer)):
            if not -n <= item < n:
                return None
            out.append(int(item) % n)
        elif isinstance(item, slice):
            start, stop, step = item.indices(n)
            out.append(slice(start, stop if stop >= 0 else None, step))   # a stop of -1 means "past 0"
        else:
            return None
    return tuple(out)


def through_getitem(g, index, x_shape):
    """The cotangent of x for ``out = x[index]``, given out's (``g``), as a Scattered; None if the
    index is not simple."""
    idx = simple_index(index, x_shape)
    if idx is None:
        return None
    if type(g) is Scattered:
        if all(type(i) is int or (i.start, i.stop, i.step) == (0, n, 1) for i, n in zip(idx, x_shape)):
            inner = iter(g.index)                  # out's axes are x's sliced ones, in order
            return Scattered(tuple(x_shape), tuple(i if type(i) is int else next(inner) for i in idx), g.values)
        g = g.dense()
    return Scattered(tuple(x_shape), idx, g)


def getitem_lazy_vjp(m: Any, needs: Sequence[bool], g: Any, out: Any, x: np.ndarray, index: Any) -> tuple:
    """x[index]'s cotangent kept lazy where the index is basic; else the reference rule."""
    share = through_getitem(g, index, x.shape)
    if share is None:
        return getitem_vjp(m, needs, dense(g), out, x, index)
    return (share,)


def transpose_lazy_vjp(m: Any, needs: Sequence[bool], g: Any, out: Any, x: np.ndarray,
                       axes: Optional[tuple] = None) -> tuple:
    """A lazy cotangent transposed back as it is; a dense one by the reference rule."""
    if type(g) is not Scattered:
        return transpose_vjp(m, needs, g, out, x, axes)
    perm = range(x.ndim - 1, -1, -1) if axes is None else np.argsort(axes).tolist()
    return (g.transposed(perm),)


_GETITEM, _TRANSPOSE = OPS["getitem"], OPS["transpose"]


def _numpy_input(x, **params):
    return type(x) is np.ndarray


def register() -> None:
    """Keep the cotangents of basic indexing of NumPy arrays lazy through indexing and transposes."""
    _GETITEM.accelerate(lazy_vjp=getitem_lazy_vjp, when=_numpy_input)
    _TRANSPOSE.accelerate(lazy_vjp=transpose_lazy_vjp, when=_numpy_input)
