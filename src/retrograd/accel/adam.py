"""Adam's update (optim/first_order.py) fast: one compiled pass (adam_kernel.c) where built, else NumPy passes on reused work arrays.

Both give the reference rule's bits: the same operations in the same order
(the kernel is built without fused multiply-adds). The extension is optional:
without it (no C compiler at install time, or ``RETROGRAD_NATIVE=0``) the
NumPy passes run. Temporaries of a large weight would be fresh memory,
page-faulted in every step, so those passes write into ``scratch`` arrays.
"""
import ctypes
import math
from typing import Optional

import numpy as np

from ..optim.first_order import Adam
from .loader import load_extension
from .workspace import scratch

_KERNELS = {np.dtype(np.float32): "adam_f32", np.dtype(np.float64): "adam_f64"}
_LIB = load_extension("retrograd.accel._adam_kernel", {
    name: ([ctypes.c_long] + [ctypes.c_void_p] * 5 + [ctypes.c_double] * 7, None) for name in _KERNELS.values()})


def available() -> bool:
    """Whether the compiled update was built and is switched on."""
    return _LIB is not None


def _fits(dtype, *arrays):
    return all(type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous for a in arrays)


def compiled_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, v_max: Optional[np.ndarray],
                    beta1: float, beta2: float, eps: float, step_size: float, bias2_sqrt: float) -> bool:
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


def update(p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
    """``Adam.update`` on NumPy arrays: the compiled pass if it takes them, else the NumPy passes."""
    b1, b2 = group["betas"]
    t = state["step"] = state["step"] + 1
    m, v = state["exp_avg"], state["exp_avg_sq"]
    v_max = None
    if group["amsgrad"]:
        v_max = state.get("max_exp_avg_sq")
        if v_max is None:
            v_max = state["max_exp_avg_sq"] = np.zeros_like(p)
    if compiled_update(p, g, m, v, v_max, b1, b2, group["eps"], group["lr"] / (1.0 - b1 ** t),
                       math.sqrt(1.0 - b2 ** t)):
        return
    # the reference's arithmetic, in its order, into reused work arrays
    tmp, step = scratch("adam_tmp", p.shape, p.dtype), scratch("adam_step", p.shape, p.dtype)
    m *= b1
    np.multiply(g, 1.0 - b1, out=tmp)
    m += tmp
    v *= b2
    np.multiply(g, 1.0 - b2, out=tmp)
    tmp *= g
    v += tmp
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
        v = v_max
    np.sqrt(v, out=tmp)
    tmp /= math.sqrt(1.0 - b2 ** t)
    tmp += group["eps"]
    np.multiply(m, group["lr"] / (1.0 - b1 ** t), out=step)
    step /= tmp
    p -= step


def _on_numpy(p, g, state, group):
    return type(p) is np.ndarray and type(g) is np.ndarray


def register() -> None:
    """Run Adam's rule (and AdamW's, AMSGrad's) on NumPy arrays by ``update``."""
    Adam.accelerate_update(update, when=_on_numpy)
