"""The compiled LSTM loops (lstm_kernel.c) through ctypes; ``None`` where the build has none.

The extension is optional: a machine without a C compiler installs retrograd
without it, and ``recurrent.py`` then runs its NumPy loops. The arrays are in
the kernel's layout (feature-major, batch last). ctypes releases the GIL
for each call, and the kernel runs the two halves of a batch (columns that
never interact within a sequence) on two cores at once: one on the calling
thread, one on a worker thread of its own (pair_worker.h). Set
``RETROGRAD_NATIVE=0`` to turn the kernels off.
"""
import ctypes

import numpy as np

from .loader import load_extension
from .workspace import recycled, scratch

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


_INT, _PTR = ctypes.c_int, ctypes.c_void_p
_LIB = load_extension("retrograd.accel._lstm_kernel", {
    **{f"lstm_forward_{sfx}": ([_INT] * 6 + [_PTR] * 8, _INT) for sfx in _SUFFIX.values()},
    **{f"lstm_backward_{sfx}": ([_INT] * 10 + [_PTR] * 17, _INT) for sfx in _SUFFIX.values()},
    **{f"lstm_backward_work_{sfx}": ([_INT] * 4, ctypes.c_long) for sfx in _SUFFIX.values()},
})


def available():
    """Whether the compiled kernels were built and are switched on."""
    return _LIB is not None


def usable(*arrays):
    """Whether the kernels can take these arrays: NumPy, all float32 or all float64."""
    if _LIB is None or not all(type(a) is np.ndarray for a in arrays):
        return False
    dtype = arrays[0].dtype
    return dtype in _SUFFIX and all(a.dtype == dtype for a in arrays)


def _ptr(a):
    return a.ctypes.data


def _ptr_or_null(a):
    return None if a is None else a.ctypes.data


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The sequence's states (2, T, H, B) and saved activations (T, 5, H, B), as recurrent.py's NumPy loops give."""
    T, B, n_in = x.shape
    H = h0.shape[-1]
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    h0T, c0T = np.ascontiguousarray(h0.T), np.ascontiguousarray(c0.T)
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    bias = b_ih + b_hh
    states = recycled("lstm_states", (2, T, H, B), dtype)
    acts = recycled("lstm_acts", (T, 5, H, B), dtype)
    h0_zero = int(not h0.any())                    # a zero start (the usual) skips W_hh in the first step
    code = getattr(_LIB, f"lstm_forward_{_SUFFIX[dtype]}")(
        T, B, H, n_in, int(reverse), h0_zero, _ptr(x), _ptr(h0T), _ptr(c0T), _ptr(w_ih), _ptr(w_hh),
        _ptr(bias), _ptr(states), _ptr(acts))
    if code:
        raise MemoryError("the compiled LSTM kernel could not allocate its work arrays")
    return states, acts


def lstm_backward(acts, states, x, h0, c0, g, w_ih, w_hh, want_dx, want_dh0, want_dw, reverse=False):
    """BPTT and the weight and input gradients: dx (T, B, in), dh0, dc0 (H, B) and dW = (dW_hh, dW_ih, db).

    ``g`` = (gh, gc, first): the cotangents of the states h and c at steps first,
    first + 1, ... as (n, H, B) arrays (None: zero), and zero at every other step.
    The kernel does all of it, the weight gradients' GEMM over (step, column) too,
    each thread on its half of the batch. dx, dh0 and dW are None unless wanted;
    dc0 comes with the loop, wanted or not.
    """
    T, _, H, B = acts.shape
    n_in = x.shape[-1]
    dtype = acts.dtype
    sfx = _SUFFIX[dtype]
    dh0 = np.empty((H, B), dtype) if want_dh0 else None
    dc0 = np.empty((H, B), dtype)
    dx = np.empty(x.shape, dtype) if want_dx else None
    dw = (np.empty((4 * H, H), dtype), np.empty((4 * H, n_in), dtype), np.empty(4 * H, dtype)) if want_dw else None
    x = np.ascontiguousarray(x)
    acts, states = np.ascontiguousarray(acts), np.ascontiguousarray(states)   # as the forward made them: no copy
    h0T, c0T = np.ascontiguousarray(h0.T), np.ascontiguousarray(c0.T)
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    gh, gc, first = g
    gh, gc = (None if a is None else np.ascontiguousarray(a, dtype) for a in (gh, gc))
    count = next((len(a) for a in (gh, gc) if a is not None), 0)     # steps the cotangents cover
    work = scratch("lstm_backward", (getattr(_LIB, f"lstm_backward_work_{sfx}")(T, B, H, n_in),), dtype)
    getattr(_LIB, f"lstm_backward_{sfx}")(
        T, B, H, n_in, int(reverse), int(want_dh0), int(want_dx), int(want_dw), first, count,
        _ptr(acts), _ptr(states[0]), _ptr(states[1]), _ptr(x), _ptr(h0T), _ptr(c0T), _ptr_or_null(gh),
        _ptr_or_null(gc), _ptr(w_ih), _ptr(w_hh), _ptr(work), _ptr_or_null(dx), _ptr_or_null(dh0), _ptr(dc0),
        *((None,) * 3 if dw is None else (_ptr(a) for a in dw)))
    return dx, dh0, dc0, dw
