"""Public tensor functions: argument checking over the primitives, and the composites built from them.

Composites (softmax, var, gelu, split, ...) are written with primitives and
get no backward of their own: their derivatives, of every order, follow.
"""
import builtins
import math
import numbers

import numpy as np

from .ops import registry
from .tensor import OpError, Tensor, apply

OPS = registry.OPS
_O = {name: op for name, op in OPS.items()}  # local alias for speed in wrappers


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _ndim(x):
    return np.ndim(_data(x))


def _shape(x):
    return np.shape(_data(x))


def _axes(axis, ndim, op):
    """Normalise an axis argument to None or a sorted tuple of non-negative ints."""
    if axis is None:
        return None
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    n = builtins.max(ndim, 1)
    for a in items:
        a = int(a)
        if not -n <= a < n:
            raise OpError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % n)
    return tuple(sorted(set(out)))


def _axis1(axis, ndim, op):
    (a,) = _axes(axis, ndim, op)
    return a


# --------------------------------------------------------------------- arithmetic


def add(x, y):
    return apply(_O["add"], x, y)


def sub(x, y):
    return apply(_O["sub"], x, y)


def mul(x, y):
    return apply(_O["mul"], x, y)


def div(x, y):
    return apply(_O["div"], x, y)


def neg(x):
    return apply(_O["neg"], x)


def pow(x, y):  # noqa: A001 - the op's name
    return apply(_O["pow"], x, y)


def matmul(x, y):
    """Matrix product with NumPy's rules (1-D, 2-D, batched); a shape mismatch names both shapes."""
    return apply(_O["matmul"], x, y)


def _unary(name, doc):
    op = _O[name]

    def f(x):
        return apply(op, x)
    f.__name__ = name
    f.__doc__ = doc
    return f


exp = _unary("exp", "Elementwise e**x.")
log = _unary("log", "Elementwise natural logarithm.")
log1p = _unary("log1p", "Elementwise log(1 + x), accurate for small x.")
sqrt = _unary("sqrt", "Elementwise square root.")
sin = _unary("sin", "Elementwise sine.")
cos = _unary("cos", "Elementwise cosine.")
tanh = _unary("tanh", "Elementwise hyperbolic tangent.")
sigmoid = _unary("sigmoid", "Logistic sigmoid 1/(1+e^-x), stable for large |x|.")
softplus = _unary("softplus", "log(1 + e^x), stable for large |x|.")
relu = _unary("relu", "max(x, 0).")
abs = _unary("abs", "Elementwise absolute value.")  # noqa: A001
sign = _unary("sign", "Elementwise sign (no gradient: zero almost everywhere).")
erf = _unary("erf", "The error function.")


def leaky_relu(x, negative_slope=0.01):
    return apply(_O["leaky_relu"], x, slope=float(negative_slope))


def elu(x, alpha=1.0):
    return apply(_O["elu"], x, alpha=float(alpha))


def gelu(x, approximate="none"):
    """Gaussian error linear unit: x * Phi(x) (exact), or the tanh approximation."""
    if approximate == "tanh":
        return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1 + erf(x * (1 / math.sqrt(2))))


def maximum(x, y):
    return apply(_O["maximum"], x, y)


def minimum(x, y):
    return apply(_O["minimum"], x, y)


def clip(x, min=None, max=None):  # noqa: A002 - torch/numpy names
    return apply(_O["clip"], x, lo=min, hi=max)


def where(cond, x, y):
    return apply(_O["where"], _data(cond), x, y)


def astype(x, dtype):
    return apply(_O["astype"], x, dtype=np.dtype(dtype))


def to_device(x, device):
    return apply(_O["to_device"], x, device=device)


# --------------------------------------------------------------------- reductions


def _reduction(name):
    op = _O[name]

    def f(x, axis=None, keepdims=False):
        return apply(op, x, axis=_axes(axis, _ndim(x), name), keepdims=bool(keepdims))
    f.__name__ = name
    f.__doc__ = f"{name} over ``axis`` (None: all axes; int or tuple), optionally keeping dims."
    return f


sum = _reduction("sum")  # noqa: A001
mean = _reduction("mean")
prod = _reduction("prod")
max = _reduction("max")  # noqa: A001
min = _reduction("min")  # noqa: A001
logsumexp = _reduction("logsumexp")


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance (``ddof=1`` for the unbiased estimate)."""
    axes = _axes(axis, _ndim(x), "var")
    centred = x - mean(x, axis=axes, keepdims=True)
    n = math.prod(_shape(x)) if axes is None else math.prod([_shape(x)[a] for a in axes])
    return sum(centred * centred, axis=axes, keepdims=keepdims) * (1.0 / (n - ddof))


def std(x, axis=None, keepdims=False, ddof=0):
    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)), computed as exp(x - logsumexp(x)): stable for any logits."""
    return exp(log_softmax(x, axis))


def log_softmax(x, axis=-1):
    return x - logsumexp(x, axis=axis, keepdims=True)


def argmax(x, axis=None, keepdims=False):
    return apply(_O["argmax"], x, axis=None if axis is None else _axis1(axis, _ndim(x), "argmax"),
                 keepdims=bool(keepdims))


def argmin(x, axis=None, keepdims=False):
    return apply(_O["argmin"], x, axis=None if axis is None else _axis1(axis, _ndim(x), "argmin"),
                 keepdims=bool(keepdims))


def sum_to(x, shape):
    return apply(_O["sum_to"], x, shape=tuple(shape))


def broadcast_to(x, shape):
    shape = tuple(int(s) for s in shape)
    try:
        np.broadcast_shapes(_shape(x), shape)
    except ValueError:
        raise OpError(f"broadcast_to: cannot broadcast shape {_shape(x)} to {shape}") from None
    return apply(_O["broadcast_to"], x, shape=shape)


# --------------------------------------------------------------------- shapes


def shape_arg(shape):
    """A shape given as varargs ``(2, 3)`` or as one sequence ``((2, 3),)`` -> a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    shape = shape_arg(shape)
    size = math.prod(_shape(x))
    known = math.prod([s for s in shape if s != -1])
    free = shape.count(-1)
    fits = (free == 0 and known == size) or (free == 1 and (known and size % known == 0 or size == 0))
    if not fits:
        raise OpError(f"reshape: cannot reshape a tensor of shape {_shape(x)} "
                      f"({math.prod(_shape(x))} elements) into {shape}") from None
    return apply(_O["reshape"], x, shape=shape)


def transpose(x, *axes):
    axes = shape_arg(axes) if axes else None
    if axes is not None:
        if sorted(a % builtins.max(_ndim(x), 1) for a in axes) != list(range(_ndim(x))):
            raise OpError(f"transpose: axes {axes} are not a permutation of a {_ndim(x)}-d tensor's axes")
        axes = tuple(a % _ndim(x) for a in axes)
    return apply(_O["transpose"], x, axes=axes)


def permute(x, *axes):
    return transpose(x, *axes)


def swapaxes(x, a, b):
    axes = list(range(_ndim(x)))
    a, b = a % _ndim(x), b % _ndim(x)
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def squeeze(x, axis=None):
    shape = _shape(x)
    if axis is None:
        return reshape(x, tuple(s for s in shape if s != 1))
    axes = _axes(axis, len(shape), "squeeze")
    for a in axes:
        if shape[a] != 1:
            raise OpError(f"squeeze: axis {a} of shape {shape} has size {shape[a]}, not 1")
    return reshape(x, tuple(s for i, s in enumerate(shape) if i not in axes))


def unsqueeze(x, axis):
    shape = list(_shape(x))
    axis = axis % (len(shape) + 1) if axis < 0 else axis
    shape.insert(axis, 1)
    return reshape(x, tuple(shape))


def flatten(x, start_axis=0, end_axis=-1):
    shape = _shape(x)
    if not shape:
        return reshape(x, (1,))
    s, e = start_axis % len(shape), end_axis % len(shape)
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def _index(index):
    """Turn tensors and lists inside an index into arrays."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _host_or_device(a):
    """A CuPy array as it is, anything else as a NumPy array."""
    from .. import backend
    return a if backend.is_device_array(a) else np.asarray(a)


def getitem(x, index):
    return apply(_O["getitem"], x, index=_index(index))


def concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise OpError("concatenate: needs at least one tensor")
    return apply(_O["concatenate"], *tensors, axis=_axis1(axis, _ndim(tensors[0]), "concatenate"))


cat = concatenate


def stack(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise OpError("stack: needs at least one tensor")
    return apply(_O["stack"], *tensors, axis=_axis1(axis, _ndim(tensors[0]) + 1, "stack"))


def split(x, sections, axis=0):
    """Split into equal ``sections`` (an int) or at the given sizes (a list), like torch.split."""
    axis = _axis1(axis, _ndim(x), "split")
    n = _shape(x)[axis]
    if isinstance(sections, numbers.Integral):
        sizes = [sections] * (n // sections) + ([n % sections] if n % sections else [])
    else:
        sizes = list(sections)
        if builtins.sum(sizes) != n:
            raise OpError(f"split: sizes {sizes} do not add up to {n} along axis {axis}")
    parts, start = [], 0
    for s in sizes:
        parts.append(getitem(x, (slice(None),) * axis + (slice(start, start + s),)))
        start += s
    return parts


def flip(x, axis=None):
    return apply(_O["flip"], x, axis=_axes(axis, _ndim(x), "flip"))


def pad(x, pad_width, value=0.0):
    """Constant padding; ``pad_width`` as in numpy.pad: ((before, after), ...) per axis, or one pair."""
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (_ndim(x), 2))
    return apply(_O["pad"], x, pad_width=tuple((int(a), int(b)) for a, b in widths), value=value)


def take_along_axis(x, indices, axis):
    axis = _axis1(axis, _ndim(x), "take_along_axis")
    idx = _host_or_device(_data(indices))
    if idx.dtype.kind not in "iu" or idx.ndim != _ndim(x):
        raise OpError(f"take_along_axis: indices must be integers with {_ndim(x)} dimensions, "
                      f"got {idx.dtype} of shape {idx.shape}")
    shape = list(_shape(x))
    shape[axis] = idx.shape[axis]
    idx = np.broadcast_to(idx, tuple(shape))
    return apply(_O["take_along_axis"], x, idx=idx, axis=axis)


gather = take_along_axis


def one_hot(labels, num_classes, dtype=None):
    """Class indices -> one-hot rows (no gradient)."""
    from .. import backend
    labels = _host_or_device(_data(labels))
    if labels.dtype.kind not in "iu":
        raise OpError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise OpError(f"one_hot: labels must lie in [0, {num_classes}), got range "
                      f"[{labels.min()}, {labels.max()}]")
    return apply(_O["one_hot"], labels, num_classes=int(num_classes),
                 dtype=np.dtype(dtype or backend.get_default_dtype()))


# --------------------------------------------------------------------- comparisons


def equal(x, y):
    return apply(_O["equal"], x, y)


def not_equal(x, y):
    return apply(_O["not_equal"], x, y)


def less(x, y):
    return apply(_O["less"], x, y)


def less_equal(x, y):
    return apply(_O["less_equal"], x, y)


def greater(x, y):
    return apply(_O["greater"], x, y)


def greater_equal(x, y):
    return apply(_O["greater_equal"], x, y)
