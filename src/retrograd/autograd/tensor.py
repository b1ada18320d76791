"""The Tensor: an array plus the record of how it was computed, and the forward-recording `apply`."""
import itertools
import numbers

import numpy as np

from .. import backend


class GradMode:
    """Whether operations record the graph. `no_grad` / `enable_grad` flip it."""
    enabled = True


class _GradModeContext:
    """Context manager and decorator setting GradMode.enabled for a block."""

    def __init__(self, enabled):
        self._enabled = enabled
        self._saved = []

    def __enter__(self):
        self._saved.append(GradMode.enabled)
        GradMode.enabled = self._enabled
        return self

    def __exit__(self, *exc):
        GradMode.enabled = self._saved.pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradModeContext(self._enabled):
                return fn(*args, **kwargs)
        return wrapper


def no_grad(fn=None):
    """Operations inside do not record a graph. Use as `with rg.no_grad():` or `@rg.no_grad()`."""
    ctx = _GradModeContext(False)
    return ctx(fn) if fn is not None else ctx


def enable_grad(fn=None):
    """Re-enable graph recording inside a `no_grad` block; also a decorator."""
    ctx = _GradModeContext(True)
    return ctx(fn) if fn is not None else ctx


def is_grad_enabled():
    return GradMode.enabled


class Tensor:
    """An n-dimensional array that remembers the operation that produced it.

    ``data`` is the NumPy (or CuPy) array; ``grad`` receives the gradient after
    ``backward()``. Non-leaf tensors hold ``_op`` (the primitive), ``_inputs``
    (its arguments) and ``_kw`` (its static parameters), which is all the
    backward pass needs.
    """
    __slots__ = ("data", "grad", "requires_grad", "_op", "_inputs", "_kw", "_retain", "_seq", "__weakref__")
    # ndarray (op) Tensor must defer to Tensor's reflected operator (so the result keeps its
    # graph) instead of converting the Tensor to an array: opt out of NumPy's ufunc dispatch.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._op = None
        self._inputs = None
        self._kw = None
        self._retain = False
        self._seq = -1

    # ------------------------------------------------------------ properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self._op is None

    @property
    def T(self):
        from .ops import transpose
        return transpose(self)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self):
        body = np.array2string(np.asarray(backend.to_device(self.data, "cpu")), separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != backend.get_default_dtype() else ""
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __array__(self, dtype=None, copy=None):
        arr = np.asarray(backend.to_device(self.data, "cpu"))
        return arr.astype(dtype) if dtype is not None else arr

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                             "use .any() or .all()")
        return bool(self.data)

    def __format__(self, spec):
        if spec and self.data.size == 1:
            return format(self.item(), spec)  # f"{loss:.4f}" works on one-element tensors
        return format(repr(self), spec)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __setitem__(self, index, value):
        """Write into the data of a tensor that is not part of a recorded graph."""
        if self._op is not None or (self.requires_grad and GradMode.enabled):
            raise RuntimeError("in-place assignment into a tensor that requires grad would corrupt its "
                               "gradient; assign under rg.no_grad() or into t.data")
        self.data[index] = value.data if isinstance(value, Tensor) else value

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __index__(self):
        return int(self.data)

    __hash__ = object.__hash__

    # ------------------------------------------------------------ conversions
    def numpy(self):
        """The data as a NumPy array (copied to the host if on the GPU); shares memory on the CPU."""
        return np.asarray(backend.to_device(self.data, "cpu"))

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item() if hasattr(self.data, "item") else float(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """A new leaf tensor sharing the data, cut off from the graph."""
        return Tensor._wrap(self.data)

    def requires_grad_(self, flag=True):
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only be set on leaf tensors; use .detach() first")
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        self._retain = True
        return self

    def to(self, target):
        """Cast to a dtype (``t.to(np.float64)``) or move to a device ('cpu' / 'cuda'), keeping the graph."""
        from .ops import astype, to_device
        if isinstance(target, str) and target in ("cpu", "cuda", "gpu") or str(target).startswith("cuda"):
            return to_device(self, device=target)
        return astype(self, dtype=np.dtype(target))

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def zero_(self):
        """Fill with zeros in place (data only; for buffers and parameters outside the graph)."""
        self.data[...] = 0
        return self

    # ------------------------------------------------------------ backward
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is the cotangent (required unless self has one element).
        The graph is freed afterwards unless ``retain_graph``; with
        ``create_graph`` the backward pass is itself recorded, so the gradients
        can be differentiated again.
        """
        from .engine import run_backward
        run_backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph)

    @staticmethod
    def _wrap(data, requires_grad=False):
        """Fast constructor for trusted arrays (no conversion, no checks)."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._op = None
        t._inputs = None
        t._kw = None
        t._retain = False
        t._seq = -1
        return t


def _to_array(data, dtype=None):
    """Convert user data to an array: Python floats get the default dtype, arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = np.dtype(dtype)
    xp = backend.array_module(data)
    if xp is np and not isinstance(data, np.ndarray):
        arr = np.asarray(data)
        if arr.dtype == np.float64 and not isinstance(data, np.floating):
            arr = arr.astype(backend.get_default_dtype())  # Python floats take the default dtype
    else:
        arr = data
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}; expected numbers")
    if arr.dtype.kind == "c":
        raise TypeError("complex tensors are not supported")
    return arr


# --------------------------------------------------------------------- recording

_CREATION_COUNTER = itertools.count()  # orders recorded tensors for the backward sweep
RECORDERS = []   # active trace recorders (retrograd.autograd.trace); apply() reports to the last


def apply(op, *args, **kw):
    """Run primitive ``op`` forward on the arrays inside ``args`` and record it when a gradient is needed."""
    arrays = [a.data if isinstance(a, Tensor) else a for a in args]
    try:
        out = op.forward(*arrays, **kw)
    except (ValueError, TypeError, IndexError) as exc:
        raise _op_error(op, arrays, kw, exc) from exc
    if op.saves:
        out, saved = out
    t = object.__new__(Tensor)
    t.data = out
    t.grad = None
    t.requires_grad = False
    t._op = None
    t._inputs = None
    t._kw = None
    t._retain = False
    t._seq = -1
    if GradMode.enabled and op.vjp is not None:
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                t.requires_grad = True
                t._op = op
                t._inputs = args
                t._kw = kw if not op.saves else dict(kw, saved=saved)
                t._seq = next(_CREATION_COUNTER)
                break
    if RECORDERS:
        RECORDERS[-1].note(op, args, kw, t)
    return t


def _describe(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{tuple(value.shape)} {value.dtype}"
    if isinstance(value, numbers.Number):
        return repr(value)
    return type(value).__name__


class OpError(ValueError):
    """A primitive op was given arguments it cannot work with (shapes, dtypes, devices)."""


def _op_error(op, arrays, kw, exc):
    shapes = ", ".join(_describe(a) for a in arrays)
    devices = {backend.device_of(a) for a in arrays if hasattr(a, "shape")}
    hint = f"; arguments on different devices {sorted(devices)}" if len(devices) > 1 else ""
    params = "".join(f", {k}={v!r}" for k, v in kw.items() if k != "index")
    return OpError(f"{op.name}: cannot apply to ({shapes}{params}){hint}: {exc}")
