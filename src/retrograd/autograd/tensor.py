"""The Tensor: an array plus the record of how it was computed; grad mode; the forward-recording `apply`.

Operators and methods that run primitives (``+``, ``.sum()``, ``.T``,
``.backward()``) are bound onto Tensor by ``tensor_methods.py``, above the
ops and the engine, so that this module imports neither.
"""
import contextvars
import functools
import itertools
import numbers
from typing import Any

import numpy as np

from .. import backend

# Whether operations record the graph, per thread (and per asyncio task): two threads that
# train at once must not switch each other's recording off. A ContextVar read costs what a
# class attribute read does (about 15 ns), and `apply` reads it on every op.
GRAD_MODE = contextvars.ContextVar("retrograd_grad_mode", default=True)
_SAVED_MODES = contextvars.ContextVar("retrograd_saved_grad_modes", default=())


class _GradModeAccess(type):
    """Makes ``GradMode.enabled`` read and set the calling thread's mode."""

    @property
    def enabled(cls):
        return GRAD_MODE.get()

    @enabled.setter
    def enabled(cls, flag):
        GRAD_MODE.set(bool(flag))


class GradMode(metaclass=_GradModeAccess):
    """Whether operations record the graph in this thread: ``GradMode.enabled``. Prefer `no_grad` / `enable_grad`."""


class _GradModeContext:
    """Context manager and decorator setting the calling thread's grad mode for a block.

    The mode to restore is kept per thread (not on this object), so one
    object may be entered by several threads at once.
    """

    def __init__(self, enabled):
        self._enabled = enabled

    def __enter__(self):
        _SAVED_MODES.set(_SAVED_MODES.get() + (GRAD_MODE.get(),))
        GRAD_MODE.set(self._enabled)
        return self

    def __exit__(self, *exc):
        saved = _SAVED_MODES.get()
        _SAVED_MODES.set(saved[:-1])
        GRAD_MODE.set(saved[-1])
        return False

    def __call__(self, fn):
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


def is_grad_enabled() -> bool:
    """Whether operations record the graph in the calling thread."""
    return GRAD_MODE.get()


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
        if requires_grad and not is_floating(self.data.dtype):
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
        if self._op is not None or (self.requires_grad and GRAD_MODE.get()):
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
        if flag and not is_floating(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        self._retain = True
        return self

    def zero_(self):
        """Fill with zeros in place (data only; for buffers and parameters outside the graph)."""
        self.data[...] = 0
        return self

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


def is_floating(dtype) -> bool:
    """A real floating dtype: NumPy's float16/32/64, or bfloat16 (from ml_dtypes, whose dtype kind is 'V')."""
    return dtype.kind == "f" or dtype.name == "bfloat16"


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
    if arr.dtype.kind not in "biufc" and not is_floating(arr.dtype):
        raise TypeError(f"cannot make a tensor from data of dtype {arr.dtype}; expected numbers")
    if arr.dtype.kind == "c":
        raise TypeError("complex tensors are not supported")
    return arr


# --------------------------------------------------------------------- recording

_CREATION_COUNTER = itertools.count()  # orders recorded tensors for the backward sweep (next() is atomic)
# Objects told of every primitive applied in this thread (the replay compiler's recorder,
# retrograd.accel.trace); apply() reports to the innermost. Per thread, like grad mode.
_RECORDERS: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("retrograd_recorders", default=())


# The autocast region this thread is in (``retrograd.autograd.amp``), None outside any. apply()
# hands it the ops that declare a precision policy (``Op.autocast``), to be run with cast arguments.
AUTOCAST: contextvars.ContextVar[Any] = contextvars.ContextVar("retrograd_autocast", default=None)


def start_recording(recorder: Any) -> contextvars.Token:
    """Have ``recorder.note(op, args, kw, out)`` called for every primitive this thread applies; returns a token."""
    return _RECORDERS.set(_RECORDERS.get() + (recorder,))


def stop_recording(token: contextvars.Token) -> None:
    """Undo the ``start_recording`` that returned ``token``."""
    _RECORDERS.reset(token)


def apply(op, *args, **kw):
    """Run primitive ``op`` forward on the arrays inside ``args`` and record it when a gradient is needed.

    Where the op has faster versions (registered by ``retrograd.accel``), the
    one that applies to these arrays runs instead, and the node keeps it.
    Inside ``rg.autocast`` an op with a precision policy is run by the
    region, which casts its floating arguments (recorded casts, so gradients
    flow back) and applies it.
    """
    if op.autocast is not None:
        region = AUTOCAST.get()
        if region is not None:
            return region.apply(op, args, kw)
    arrays = [a.data if isinstance(a, Tensor) else a for a in args]
    if op.versions:
        op = op.pick(arrays, kw)
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
    if GRAD_MODE.get() and op.vjp is not None:
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                t.requires_grad = True
                t._op = op
                t._inputs = args
                t._kw = kw if not op.saves else dict(kw, saved=saved)
                t._seq = next(_CREATION_COUNTER)
                break
    recorders = _RECORDERS.get()
    if recorders:
        recorders[-1].note(op, args, kw, t)
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
