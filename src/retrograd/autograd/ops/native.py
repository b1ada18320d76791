"""The compiled LSTM loops (lstm_kernel.c) through ctypes, on two threads; ``None`` where the build has none.

The extension is optional: a machine without a C compiler installs retrograd
without it, and recurrent.py then runs its NumPy loops. ctypes releases the GIL
for each call, so the two halves of a batch (columns that never interact
within a sequence) run on two cores at once: one on the calling thread, one on
the shared helper thread. Set ``RETROGRAD_NATIVE=0`` to turn the kernels off.
"""
import ctypes

import numpy as np

from ...native_loader import load_extension
from .workspace import helper_thread, recycled, scratch

_LANES = {np.dtype(np.float32): 8, np.dtype(np.float64): 4}    # values per vector in the kernel
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


_INT, _PTR = ctypes.c_int, ctypes.c_void_p
_LIB = load_extension("retrograd.autograd.ops._lstm_kernel", {
    **{f"lstm_forward_{sfx}": ([_INT] * 8 + [_PTR] * 8, _INT) for sfx in _SUFFIX.values()},
    **{f"lstm_backward_{sfx}": ([_INT] * 9 + [_PTR] * 9, _INT) for sfx in _SUFFIX.values()},
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


def _halves(B, dtype):
    """Batch columns per thread: two ranges split on a vector boundary, or one when B is small."""
    lanes = _LANES[dtype]
    if B < 2 * lanes:
        return [(0, B)]
    mid = -(-(B // 2) // lanes) * lanes
    return [(0, mid), (mid, B)]


def _split(fn, B, dtype):
    """[fn(col0, col1)] for each part of the batch, in column order; the first part runs on the helper thread."""
    spans = _halves(B, dtype)
    if len(spans) == 1:
        return [fn(0, B)]
    job = helper_thread("rnn").submit(fn, *spans[0])
    last = fn(*spans[1])
    return [job.result(), last]


def _ptr(a):
    return a.ctypes.data


def _ptr_or_null(a):
    return None if a is None else a.ctypes.data


def lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The sequence's states (2, T, H, B) and saved activations (T, 5, H, B), as recurrent.py's loop gives."""
    T, B, n_in = x.shape
    H = h0.shape[-1]
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    h0T, c0T = np.ascontiguousarray(h0.T), np.ascontiguousarray(c0.T)
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    bias = b_ih + b_hh
    states = recycled("lstm_states", (2, T, H, B), dtype)
    acts = recycled("lstm_acts", (T, 5, H, B), dtype)
    kernel = getattr(_LIB, f"lstm_forward_{_SUFFIX[dtype]}")
    h0_zero = int(not h0.any())                    # a zero start (the usual) skips W_hh in the first step
    codes = _split(lambda lo, hi: kernel(T, B, H, n_in, lo, hi, int(reverse), h0_zero, _ptr(x), _ptr(h0T),
                                         _ptr(c0T), _ptr(w_ih), _ptr(w_hh), _ptr(bias), _ptr(states), _ptr(acts)),
                   B, dtype)
    if any(codes):
        raise MemoryError("the compiled LSTM kernel could not allocate its work arrays")
    return states, acts


def lstm_backward(acts, states, x, h0, c0, g, w_ih, w_hh, want_dx, want_dh0, want_dw, reverse=False):
    """BPTT and the weight and input gradients: dx (T, B, in), dh0, dc0 (H, B) and dW = (dW_hh, dW_ih, db).

    ``g`` = (gh, gc, first): the cotangents of the states h and c at steps first,
    first + 1, ... as (n, H, B) arrays (None: zero), and zero at every other step.
    Each thread takes its batch columns through the whole backward: the compiled
    loop fills its own gate gradients dG, then two GEMMs contract them over (step,
    column) with z = [h_prev, x, 1] (for dW, the two threads' parts then summed
    straight into the three contiguous gradients) and with W_ih (for dx). dx, dh0
    and dW are None unless wanted; dc0 comes with the loop, wanted or not.
    """
    from .recurrent import _previous_into                       # recurrent.py imports this module
    T, _, H, B = acts.shape
    n_in = x.shape[-1]
    dtype = acts.dtype
    dh0, dc0 = np.empty((H, B), dtype) if want_dh0 else None, np.empty((H, B), dtype)
    dx = np.empty(x.shape, dtype) if want_dx else None
    c0T = np.ascontiguousarray(c0.T)
    w_hh = np.ascontiguousarray(w_hh)
    gh, gc, first = g
    gh, gc = (None if a is None else np.ascontiguousarray(a, dtype) for a in (gh, gc))
    count = next((len(a) for a in (gh, gc) if a is not None), 0)     # steps the cotangents cover
    hs_b = states[0].transpose(0, 2, 1)                          # (T, B, H) views of the outputs
    kernel = getattr(_LIB, f"lstm_backward_{_SUFFIX[dtype]}")

    def columns(lo, hi):
        nb = hi - lo
        dG = scratch("lstm_dG", (4, H, T, nb), dtype)
        code = kernel(T, B, H, lo, hi, int(reverse), int(want_dh0), first, count, _ptr(acts), _ptr(states[1]),
                      _ptr(c0T), _ptr_or_null(gh), _ptr_or_null(gc), _ptr(w_hh), _ptr(dG), _ptr_or_null(dh0),
                      _ptr(dc0))
        flat = dG.reshape(4 * H, T * nb)
        dw = None
        if want_dw:
            z = scratch("lstm_z", (T, nb, H + n_in + 1), dtype)
            _previous_into(z[:, :, :H], hs_b[:, lo:hi], h0[lo:hi], 0, T, reverse)
            z[:, :, H:H + n_in] = x[:, lo:hi]
            z[:, :, H + n_in] = 1.0
            dw = flat @ z.reshape(T * nb, -1)
        if want_dx:
            dx[:, lo:hi] = (flat.T @ w_ih).reshape(T, nb, n_in)
        return code, dw

    parts = _split(columns, B, dtype)
    if any(code for code, _ in parts):
        raise MemoryError("the compiled LSTM kernel could not allocate its work arrays")
    dw = None
    if want_dw:
        cols = (slice(0, H), slice(H, H + n_in), H + n_in)
        if len(parts) == 1:
            dw = tuple(np.ascontiguousarray(parts[0][1][:, c]) for c in cols)
        else:
            dw = tuple(np.add(parts[0][1][:, c], parts[1][1][:, c]) for c in cols)
    return dx, dh0, dc0, dw

