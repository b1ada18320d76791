"""Tensor factories: tensor, zeros, ones, full, arange, linspace, eye, rand, randn and *_like."""
import numpy as np

from .. import backend
from .functions import shape_arg as _shape
from .tensor import Tensor


def _dtype(dtype):
    return np.dtype(dtype) if dtype is not None else backend.get_default_dtype()


def _finish(arr, requires_grad, device):
    if device not in (None, "cpu"):
        arr = backend.to_device(arr, device)
    return Tensor(arr, requires_grad=requires_grad)


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor from data (lists, scalars, arrays, tensors). Python floats get the default dtype."""
    t = Tensor(data, dtype=dtype)
    arr = t.data.copy() if isinstance(data, (np.ndarray, Tensor)) else t.data
    return _finish(arr, requires_grad, device)


def as_tensor(data, dtype=None):
    """Wrap data without copying when possible."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(data, dtype=dtype)


def zeros(*shape, dtype=None, requires_grad=False, device=None):
    return _finish(np.zeros(_shape(shape), dtype=_dtype(dtype)), requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None):
    return _finish(np.ones(_shape(shape), dtype=_dtype(dtype)), requires_grad, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _finish(np.full(shape, fill_value, dtype=_dtype(dtype)), requires_grad, device)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor(np.zeros_like(t.data if isinstance(t, Tensor) else t, dtype=dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor(np.ones_like(t.data if isinstance(t, Tensor) else t, dtype=dtype), requires_grad)


def arange(start, stop=None, step=1, dtype=None, requires_grad=False):
    """Like numpy.arange; integer arguments give int64, float arguments the default float dtype."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = np.int64 if is_int else backend.get_default_dtype()
    return Tensor(np.arange(start, stop, step, dtype=dtype), requires_grad=requires_grad)


def linspace(start, stop, num=50, dtype=None, requires_grad=False):
    return Tensor(np.linspace(start, stop, num, dtype=_dtype(dtype)), requires_grad=requires_grad)


def eye(n, m=None, dtype=None, requires_grad=False):
    return Tensor(np.eye(n, m, dtype=_dtype(dtype)), requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False, generator=None):
    """Uniform [0, 1) samples from the global generator (``rg.manual_seed``) or ``generator``."""
    gen = backend.get_generator(generator)
    arr = gen.random(_shape(shape)).astype(_dtype(dtype), copy=False)
    return Tensor(arr, requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False, generator=None):
    """Standard normal samples from the global generator (``rg.manual_seed``) or ``generator``."""
    gen = backend.get_generator(generator)
    arr = gen.standard_normal(_shape(shape)).astype(_dtype(dtype), copy=False)
    return Tensor(arr, requires_grad=requires_grad)


def randint(low, high, shape, generator=None):
    gen = backend.get_generator(generator)
    return Tensor(gen.integers(low, high, size=tuple(shape)))
