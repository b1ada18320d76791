"""Shape and indexing primitives: reshape, transpose, indexing and its scatter, concatenate, stack, flip, pad."""
import numpy as np

from .registry import primitive


@primitive
def reshape(x, shape):
    return x.reshape(shape)


@reshape.defvjp
def reshape_vjp(m, needs, g, out, x, shape):
    return (m.reshape(g, shape=x.shape),)


@primitive
def transpose(x, axes=None):
    return x.transpose(axes)


@transpose.defvjp
def transpose_vjp(m, needs, g, out, x, axes=None):
    inverse = None if axes is None else tuple(int(i) for i in np.argsort(axes))
    return (m.transpose(g, axes=inverse),)


def _is_basic(index):
    """True when indexing selects a view (ints, slices, None, Ellipsis): no element is picked twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice)) for i in items)


def _on_device_of(x, index):
    """Index arrays moved to x's device (NumPy index arrays cannot index a CuPy array)."""
    from ... import backend
    xp = backend.array_module(x)
    if xp is np:
        return index
    items = index if isinstance(index, tuple) else (index,)
    moved = tuple(xp.asarray(i) if isinstance(i, np.ndarray) else i for i in items)
    return moved if isinstance(index, tuple) else moved[0]


@primitive
def getitem(x, index):
    if type(x) is not np.ndarray:
        index = _on_device_of(x, index)
    return x[index]


@getitem.defvjp
def getitem_vjp(m, needs, g, out, x, index):
    return (m.scatter_add(g, index=index, shape=x.shape),)


@primitive
def scatter_add(g, index, shape):
    """zeros(shape) with ``g`` added at ``index``; repeated indices accumulate."""
    # np.zeros takes zeroed pages from calloc (zero-filled as they are first touched), where
    # zeros_like writes every byte: half the cost for a large, mostly untouched gradient
    z = np.zeros(shape, g.dtype) if type(g) is np.ndarray else np.zeros_like(g, shape=shape)
    if _is_basic(index):
        z[index] = g
    elif type(z) is np.ndarray:
        np.add.at(z, index, g)
    else:  # CuPy: add.at accumulates repeated indices like np.add.at (CuPy 13+; cupyx.scatter_add,
        # deprecated since, before it)
        from ... import backend
        add = backend.array_module(z).add
        if hasattr(add, "at"):
            add.at(z, _on_device_of(z, index), g)
        else:
            import cupyx
            cupyx.scatter_add(z, _on_device_of(z, index), g)
    return z


@scatter_add.defvjp
def scatter_add_vjp(m, needs, gg, out, g, index, shape):
    return (m.getitem(gg, index=index),)


@primitive
def concatenate(*xs, axis=0):
    return np.concatenate(xs, axis=axis)


@concatenate.defvjp
def concatenate_vjp(m, needs, g, out, *xs, axis=0):
    grads, start = [], 0
    lead = (slice(None),) * axis
    for x, need in zip(xs, needs):
        stop = start + x.shape[axis]
        grads.append(m.getitem(g, index=lead + (slice(start, stop),)) if need else None)
        start = stop
    return tuple(grads)


@primitive
def stack(*xs, axis=0):
    return np.stack(xs, axis=axis)


@stack.defvjp
def stack_vjp(m, needs, g, out, *xs, axis=0):
    lead = (slice(None),) * axis
    return tuple(m.getitem(g, index=lead + (i,)) if need else None for i, need in enumerate(needs))


@primitive
def flip(x, axis=None):
    return np.flip(x, axis=axis)


@flip.defvjp
def flip_vjp(m, needs, g, out, x, axis=None):
    return (m.flip(g, axis=axis),)


@primitive
def pad(x, pad_width, value=0.0):
    return np.pad(x, pad_width, mode="constant", constant_values=value)


@pad.defvjp
def pad_vjp(m, needs, g, out, x, pad_width, value=0.0):
    index = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))
    return (m.getitem(g, index=index),)


def along_axis_index(idx, axis, ndim):
    """The advanced index tuple that picks ``idx`` along ``axis`` (np.take_along_axis's pairing)."""
    shape = idx.shape
    index = []
    for d in range(ndim):
        if d == axis:
            index.append(idx)
        else:
            view = [1] * ndim
            view[d] = shape[d]
            index.append(np.arange(shape[d]).reshape(view))
    return tuple(index)


@primitive
def take_along_axis(x, idx, axis):
    if type(x) is not np.ndarray:
        idx = _on_device_of(x, idx)
    return np.take_along_axis(x, idx, axis=axis)


@take_along_axis.defvjp
def take_along_axis_vjp(m, needs, g, out, x, idx, axis):
    index = along_axis_index(idx, axis, x.ndim)
    return (m.scatter_add(m.broadcast_to(g, shape=idx.shape), index=index, shape=x.shape),)


@primitive
def to_device(x, device):
    from ... import backend
    return backend.to_device(x, device)


@to_device.defvjp
def to_device_vjp(m, needs, g, out, x, device):
    from ... import backend
    return (m.to_device(g, device=backend.device_of(x)),)
