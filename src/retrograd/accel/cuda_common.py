"""What the GPU kernels of the wing share: the CuPy module, the "all on the GPU" predicate, kernels made once.

The CUDA versions (``cuda_recurrent``, ``cuda_conv``, ``cuda_losses``,
``cuda_optim``) register only when CuPy can be imported, and each applies
where every array argument is a CuPy array of float32 or float64: the
reference ops run on CuPy too (they are written against the array module),
so these versions are speed, never a condition for running on a GPU.
Kernels are compiled by CuPy (NVRTC) at their first call and cached on disk
by CuPy, so a process pays the compilation once per kernel and dtype.
"""
from typing import Any, Callable, Dict

import numpy as np

from .. import backend

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KERNELS: Dict[str, Any] = {}


def cupy_module() -> Any:
    """The imported CuPy module (None without it)."""
    return backend._cupy


def available() -> bool:
    """Whether CuPy can be imported (a GPU is asked for only when a kernel first runs)."""
    return backend._cupy is not None


def all_on_gpu(*arrays: Any, **params: Any) -> bool:
    """True when every array argument is a float32/float64 CuPy array (at least one; None is skipped)."""
    seen = False
    for a in arrays:
        if a is None or not hasattr(a, "dtype"):
            continue
        if not backend.is_device_array(a) or a.dtype not in FLOATS:
            return False
        seen = True
    return seen


def kernel(name: str, make: Callable[[Any], Any]) -> Any:
    """The kernel called ``name``, made by ``make(cupy)`` at its first use."""
    k = _KERNELS.get(name)
    if k is None:
        k = _KERNELS[name] = make(backend._cupy)
    return k


def contiguous(a: Any) -> Any:
    """``a`` C-contiguous on the GPU (itself when it is already)."""
    return a if a.flags.c_contiguous else backend._cupy.ascontiguousarray(a)
