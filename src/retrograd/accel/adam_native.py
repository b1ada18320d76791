"""Adam's update in one compiled pass (adam_kernel.c) through ctypes, where the build has it.

The extension is optional, like the LSTM kernels: without it (no C compiler at
install time, or ``RETROGRAD_NATIVE=0``) ``update`` declines and Adam runs its
NumPy passes, which give the same bits.
"""
import ctypes

import numpy as np

from .loader import load_extension

_KERNELS = {np.dtype(np.float32): "adam_f32", np.dtype(np.float64): "adam_f64"}
_LIB = load_extension("retrograd.accel._adam_kernel", {
    name: ([ctypes.c_long] + [ctypes.c_void_p] * 5 + [ctypes.c_double] * 7, None) for name in _KERNELS.values()})


def available():
    """Whether the compiled update was built and is switched on."""
    return _LIB is not None


def _fits(dtype, *arrays):
    return all(type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous for a in arrays)


def update(p, g, m, v, v_max, beta1, beta2, eps, step_size, bias2_sqrt):
    """Adam's step on p, m, v (and v_max for AMSGrad, else None) in place; False, touching
    nothing, unless all are C-contiguous NumPy arrays of p's float dtype (float32 or float64)."""
    name = _KERNELS.get(p.dtype) if _LIB is not None and type(p) is np.ndarray else None
    arrays = (p, g, m, v) if v_max is None else (p, g, m, v, v_max)
    if name is None or not p.flags.writeable or not _fits(p.dtype, *arrays):
        return False
    getattr(_LIB, name)(p.size, p.ctypes.data, g.ctypes.data, m.ctypes.data, v.ctypes.data,
                        None if v_max is None else v_max.ctypes.data, beta1, beta2, 1.0 - beta1, 1.0 - beta2,
                        bias2_sqrt, eps, step_size)
    return True
