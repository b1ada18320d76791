"""Optimizer updates on the GPU: Adam's and SGD's rules as one kernel per parameter; L-BFGS's two loops with no host reads.

Adam's reference update is about a dozen array operations per parameter,
each a kernel launch on CuPy; the fused kernel reads p, g, m, v (and v_max)
once and writes them once, with the reference's formula. SGD with momentum
becomes one kernel too. Both serve exactly the arrays the reference would
update, in place, so the optimizer's state (and ``state_dict``) is unchanged.

L-BFGS's two-loop recursion takes a dot product per stored pair in each
loop; the reference turns each into a Python float (a host read, which waits
for the GPU). Here the coefficients stay 0-d device arrays, so a direction
costs no host read at all.
"""
import math
from typing import Any

import numpy as np

from ..optim.first_order import SGD, Adam
from ..optim.lbfgs import two_loop
from .cuda_common import all_on_gpu, available, kernel

# the reference's arithmetic in the parameters' dtype: each Python float becomes a T first, as
# NumPy does with a Python scalar and a float32 array
_ADAM = """
T m1 = (T)b1 * m + (T)(1 - b1) * g;
T v1 = (T)b2 * v + (T)(1 - b2) * g * g;
m = m1; v = v1;
T denom = sqrt(v1) / (T)bias2_sqrt + (T)eps;
p -= (T)step_size * m1 / denom;
"""

_AMSGRAD = """
T m1 = (T)b1 * m + (T)(1 - b1) * g;
T v1 = (T)b2 * v + (T)(1 - b2) * g * g;
m = m1; v = v1;
T top = max(vm, v1);
vm = top;
T denom = sqrt(top) / (T)bias2_sqrt + (T)eps;
p -= (T)step_size * m1 / denom;
"""

_SGD = """
v = first ? g : (T)mu * v + (damp == 0 ? g : (T)(1 - damp) * g);
T d = nesterov ? g + (T)mu * v : v;
p -= (T)lr * d;
"""


_ADAM_IN = "T g, float64 b1, float64 b2, float64 eps, float64 step_size, float64 bias2_sqrt"


def _adam_kernel(cp: Any) -> Any:
    return cp.ElementwiseKernel(_ADAM_IN, "T p, T m, T v", _ADAM, "retrograd_adam")


def _amsgrad_kernel(cp: Any) -> Any:
    return cp.ElementwiseKernel(_ADAM_IN, "T p, T m, T v, T vm", _AMSGRAD, "retrograd_amsgrad")


def _sgd_kernel(cp: Any) -> Any:
    return cp.ElementwiseKernel("T g, float64 mu, float64 damp, float64 lr, bool nesterov, bool first",
                                "T p, T v", _SGD, "retrograd_sgd_momentum")


def adam_update(p: Any, g: Any, state: dict, group: dict) -> None:
    """``Adam.update`` (and AdamW's, AMSGrad's) as one kernel."""
    b1, b2 = group["betas"]
    t = state["step"] = state["step"] + 1
    m, v = state["exp_avg"], state["exp_avg_sq"]
    scalars = (b1, b2, group["eps"], group["lr"] / (1.0 - b1 ** t), math.sqrt(1.0 - b2 ** t))
    if group["amsgrad"]:
        vm = state.get("max_exp_avg_sq")
        if vm is None:                           # a state saved without amsgrad
            vm = state["max_exp_avg_sq"] = v * 0
        kernel("amsgrad", _amsgrad_kernel)(g, *scalars, p, m, v, vm)
    else:
        kernel("adam", _adam_kernel)(g, *scalars, p, m, v)


def sgd_update(p: Any, g: Any, state: dict, group: dict) -> None:
    """``SGD.update`` as one kernel (the momentum buffer starts as a copy of the first gradient)."""
    mu = group["momentum"]
    if not mu:
        p -= group["lr"] * g
        return
    v = state.get("momentum_buffer")
    first = v is None
    if first:
        v = state["momentum_buffer"] = g.copy()
    kernel("sgd", _sgd_kernel)(g, mu, group["dampening"], group["lr"], bool(group["nesterov"]), first, p, v)


def device_two_loop(q: Any, h_diag: float, dirs: list, stps: list, ro: list) -> Any:
    """L-BFGS's two-loop recursion with its coefficients kept on the GPU (no host reads)."""
    # the reference's arithmetic: coefficients in float64 (its Python floats), each rounded to the
    # vectors' dtype where it scales one (as NumPy does with a Python float), so the iterates agree
    al: list = [None] * len(dirs)
    q = q.copy()
    dtype = q.dtype
    for i in range(len(dirs) - 1, -1, -1):
        al[i] = stps[i].dot(q).astype(np.float64) * ro[i]
        q -= al[i].astype(dtype) * dirs[i]
    r = q * h_diag
    for i in range(len(dirs)):
        be = dirs[i].dot(r).astype(np.float64) * ro[i]
        r += (al[i] - be).astype(dtype) * stps[i]
    return r


def _update_on_gpu(p: Any, g: Any, state: dict, group: dict) -> bool:
    return all_on_gpu(p, g) and p.dtype == g.dtype and p.flags.c_contiguous


def _two_loop_on_gpu(q: Any, h_diag: float, dirs: list, stps: list, ro: list) -> bool:
    return all_on_gpu(q)


def register() -> None:
    """Adam's and SGD's fused updates and L-BFGS's device two-loop, for CuPy arrays."""
    if not available():
        return
    Adam.accelerate_update(adam_update, when=_update_on_gpu)
    SGD.accelerate_update(sgd_update, when=_update_on_gpu)
    two_loop.accelerate(device_two_loop, when=_two_loop_on_gpu)
