"""The recurrent sequences fast: the LSTM's compiled loops where built, else NumPy loops in their layout; one BLAS thread.

The reference ops (``autograd/ops/recurrent.py``) give the LSTM's states as
(2, T, B, H). The kernels here work feature-major, batch last: every per-step
array is (features, batch), so the step's product W_hh @ h^T writes the four
gates as four contiguous (H, B) blocks and every elementwise pass runs on
contiguous memory (row slices of a (B, 4H) block cost up to twice as much per
pass); and the activations the backward needs, gates and tanh(c), are saved as
(T, 5, H, B). The versions registered here hand the op (2, T, B, H) views of
their (2, T, H, B) states, and read a cotangent in the op's layout.

* Compiled (``lstm_kernel.c`` through ``lstm_native.py``): NumPy float32 or
  float64 arrays, where the extension was built (``RETROGRAD_NATIVE=0``:
  never). The loops run without the GIL, the batch split over two threads.
* NumPy loops: any other NumPy arrays. One exp covers all four gates, and the
  batched work (input projection, local derivatives, weight gradients) runs
  chunk by chunk on a helper thread beside the per-step loop when the
  sequence is large (``OVERLAP_ABOVE``).

Both take a lazy cotangent (``scattered.py``): a loss on ``out[-1]`` or h_n
reaches the compiled backward as that one step. The GRU and the Elman RNN run
their reference code with BLAS on one thread: their steps are chains of small
products, which a second BLAS thread only slows (measured on the shared
2-core machine).
"""
from typing import Any, Optional, Sequence

import numpy as np

from ..autograd.ops.registry import OPS
from . import lstm_native
from .blas import blas_threads
from .scattered import Scattered
from .workspace import helper_thread, recycled, scratch


A = np.ndarray


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _op_layout(states):
    """(2, T, H, B) kernel states as the op's (2, T, B, H): a view."""
    return states.transpose(0, 1, 3, 2)


def _kernel_layout(a):
    """(2, T, B, H) in the op's layout as the kernel's (2, T, H, B): a view."""
    return a.transpose(0, 1, 3, 2)


# --------------------------------------------------------------------- compiled


def native_forward(x: A, h0: A, c0: A, w_ih: A, w_hh: A, b_ih: A, b_hh: A, reverse: bool = False) -> tuple[A, A]:
    """The op's forward by the compiled loops: (2, T, B, H) view of the states, and the kernel's acts."""
    states, acts = lstm_native.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    return _op_layout(states), acts


def native_vjp(m: Any, needs: Sequence[bool], g: Any, out: A, x: A, h0: A, c0: A, w_ih: A, w_hh: A, b_ih: A, b_hh: A,
               reverse: bool = False, saved: Optional[A] = None) -> tuple:
    """The op's VJP by the compiled BPTT, from ``native_forward``'s output and acts; g may be lazy."""
    dx, dh0, dc0, dw = lstm_native.lstm_backward(saved, _kernel_layout(out), x, h0, c0, _live_steps(g), w_ih, w_hh,
                                                 want_dx=needs[0], want_dh0=needs[1], want_dw=any(needs[3:]),
                                                 reverse=reverse)
    dw_hh, dw_ih, db = dw if dw is not None else (None, None, None)
    return (dx, dh0.T if needs[1] else None, dc0.T if needs[2] else None,
            dw_ih if needs[3] else None, dw_hh if needs[4] else None,
            db if needs[5] else None, db if needs[6] else None)


def _live_steps(g):
    """The op's cotangent (2, T, B, H) as (gh, gc, first) in the kernel's layout, for lstm_native.lstm_backward.

    A lazy cotangent that holds one step of h or of c (the usual ``out[-1]``, or h_n)
    passes just that step; anything else passes all of gh and gc from step 0.
    """
    if type(g) is Scattered:
        part, step, *rest = g.index
        if type(part) is int and type(step) is int and all(
                r == slice(0, n, 1) for r, n in zip(rest, g.shape[2:])):
            one = g.values.T[None]                                # (B, H) -> (1, H, B)
            return (one, None, step) if part == 0 else (None, one, step)
        g = g.dense()
    g = _kernel_layout(g)
    return g[0], g[1], 0



# --------------------------------------------------------------------- NumPy loops


def numpy_forward(x: A, h0: A, c0: A, w_ih: A, w_hh: A, b_ih: A, b_hh: A, reverse: bool = False) -> tuple[A, A]:
    """The op's forward by the NumPy loops in the kernel's layout, with BLAS on one thread."""
    with blas_threads(1):
        states, acts = _numpy_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    return _op_layout(states), acts


def numpy_vjp(m: Any, needs: Sequence[bool], g: Any, out: A, x: A, h0: A, c0: A, w_ih: A, w_hh: A, b_ih: A, b_hh: A,
              reverse: bool = False, saved: Optional[A] = None) -> tuple:
    """The op's VJP by the NumPy loops, from ``numpy_forward``'s output and acts; g may be lazy."""
    with blas_threads(1):
        return _numpy_backward(needs, _dense_kernel_layout(g), _kernel_layout(out), x, h0, c0, w_ih, w_hh,
                               reverse, saved)


def _dense_kernel_layout(g):
    """The op's cotangent (2, T, B, H), lazy or not, as a contiguous (2, T, H, B) array for the NumPy loops
    (their per-step reads and the search for live steps run on contiguous memory)."""
    if type(g) is Scattered:
        return g.transposed((0, 1, 3, 2)).dense()
    return np.ascontiguousarray(_kernel_layout(g))


# Multiply-adds of a sequence's batched work (input projection, weight gradients) above
# which it runs on a background thread while the per-step loop goes on: the loop is a
# chain of small single-threaded GEMMs, so a second core is otherwise idle.
OVERLAP_ABOVE = 1 << 24


class _Now:
    """Runs each job at once: the stand-in for the background thread on small sequences."""

    def submit(self, fn, *args):
        fn(*args)
        return self

    def result(self):
        return None


def _worker(work):
    """Where a sequence's batched jobs run: one shared background thread, or inline when small.

    NumPy's ufuncs and BLAS release the GIL, so the jobs run beside the Python loop.
    Callers wait for every job before they return.
    """
    if work < OVERLAP_ABOVE:
        return _Now()
    return helper_thread("rnn")


def _chunks(T, reverse, n=8):
    """About n ranges [lo, hi) of time steps, in the order the forward loop visits them."""
    size = -(-T // n)
    spans = [(lo, min(lo + size, T)) for lo in range(0, T, size)]
    return spans[::-1] if reverse else spans


def _previous_into(dst, seq, first, lo, hi, reverse):
    """dst[t - lo] = the state entering step t for t in [lo, hi): seq[t - 1] (seq[t + 1] reversed), or first."""
    T = len(seq)
    if reverse:
        end = min(hi, T - 1)
        dst[:end - lo] = seq[lo + 1:end + 1]
        if hi == T:
            dst[-1] = first
    else:
        start = max(lo, 1)
        dst[start - lo:] = seq[start - 1:hi - 1]
        if lo == 0:
            dst[0] = first


def _numpy_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    """The sequence in the kernel's layout with NumPy calls: states (2, T, H, B), acts (T, 5, H, B)."""
    # One exp covers all four gates: with the weights negated (and the g rows doubled)
    # once per sequence, e = exp(-z) gives sigmoid(z) = 1/(1 + e) and
    # tanh(z) = 2 sigmoid(2z) - 1. np.exp is about twice as fast as np.tanh here.
    T, B, n_in = x.shape
    H = h0.shape[-1]
    dtype = np.result_type(x, w_ih)
    scale = np.full((4 * H, 1), -1.0, dtype=dtype)
    scale[2 * H:3 * H] = -2.0
    w_hh_n = w_hh * scale
    # the bias rides in the input GEMM as one more input row of ones
    w_in = np.empty((4 * H, n_in + 1), dtype=dtype)
    np.multiply(w_ih, scale, out=w_in[:, :n_in])
    np.multiply(b_ih + b_hh, scale[:, 0], out=w_in[:, n_in])
    x1 = scratch("lstm_x1", (T, n_in + 1, B), dtype)
    xw = scratch("lstm_xw", (T, 4 * H, B), dtype)

    def project(lo, hi):
        x1[lo:hi, :n_in] = x[lo:hi].transpose(0, 2, 1)
        x1[lo:hi, n_in] = 1.0
        np.matmul(w_in, x1[lo:hi], out=xw[lo:hi])

    chunks = _chunks(T, reverse)
    pool = _worker(4 * H * T * B * (n_in + H))
    ready = [pool.submit(project, lo, hi) for lo, hi in chunks]
    states = recycled("lstm_states", (2, T, H, B), dtype)         # h^T, c^T per step
    acts = recycled("lstm_acts", (T, 5, H, B), dtype)             # i, f, g, o, tanh(c) per step
    pre = scratch("lstm_pre", (4 * H, B), dtype)
    tmp = scratch("lstm_tmp", (H, B), dtype)
    h, c = np.ascontiguousarray(h0.T), np.ascontiguousarray(c0.T)
    starts = {(hi - 1 if reverse else lo): n for n, (lo, hi) in enumerate(chunks)}
    with np.errstate(over="ignore"):                             # exp(-z) = inf gives sigmoid 0: right
        for t in _steps(T, reverse):
            if t in starts:
                ready[starts[t]].result()
            a = acts[t]
            np.matmul(w_hh_n, h, out=pre)
            pre += xw[t]
            np.exp(pre, out=pre)
            pre += 1.0
            np.reciprocal(pre, out=a[:4].reshape(4 * H, B))
            i, f, g, o, tc = a
            g *= 2.0
            g -= 1.0
            c_new, h_new = states[1, t], states[0, t]
            np.multiply(f, c, out=c_new)
            np.multiply(i, g, out=tmp)
            c_new += tmp
            np.tanh(c_new, out=tc)
            np.multiply(o, tc, out=h_new)
            h, c = h_new, c_new
    return states, acts


def _lstm_local_derivatives(k, acts, cs, c0, lo, hi, reverse):
    """Per step, what dc (and dh) multiply into the gate gradients; none depends on the backward sweep.

    Fills k[lo:hi] (steps, 5, H, B) = [i' g, f' c_prev, i g', o' tanh(c), o tanh'(c)]
    with ' the derivative at the pre-activation: for many steps at once (large
    arrays, 13 calls) instead of 13 small calls per step inside the loop.
    """
    k, acts = k[lo:hi], acts[lo:hi]
    i, f, g, o, tc = (acts[:, n] for n in range(5))
    c_prev = k[:, 4]                                             # borrowed until the last plane is made
    _previous_into(c_prev, cs, c0, lo, hi, reverse)
    sig_if = acts[:, :2]
    np.subtract(1.0, sig_if, out=k[:, :2])
    k[:, :2] *= sig_if                                           # sigmoid' of i and f
    k[:, 0] *= g
    k[:, 1] *= c_prev
    np.multiply(g, g, out=k[:, 2])
    np.subtract(1.0, k[:, 2], out=k[:, 2])
    k[:, 2] *= i
    np.subtract(1.0, o, out=k[:, 3])
    k[:, 3] *= o
    k[:, 3] *= tc
    np.multiply(tc, tc, out=k[:, 4])
    np.subtract(1.0, k[:, 4], out=k[:, 4])
    k[:, 4] *= o


def _numpy_backward(needs, g, out, x, h0, c0, w_ih, w_hh, reverse, acts):
    """BPTT with NumPy calls, from the states and acts of ``_numpy_forward`` and the cotangent g (2, T, H, B)."""
    T, B, n_in = x.shape
    H = h0.shape[-1]
    dtype = out.dtype
    gh, gc = g
    # only the steps whose state receives an outside gradient need the adds
    live_h = set(np.flatnonzero(gh.reshape(T, -1).any(axis=1)).tolist())
    live_c = set(np.flatnonzero(gc.reshape(T, -1).any(axis=1)).tolist())
    hs, cs = out
    c0_t = c0.T
    hs_b = hs.transpose(0, 2, 1)
    want_w = any(needs[3:])
    # The weight gradients contract over (step, batch): gate gradients as (4H, T*B)
    # against z = [h_prev, x, 1] (T*B, H + in + 1), one GEMM per chunk of steps, run in
    # the background as soon as the loop has finished the chunk. Each step writes its
    # (4, H, B) slice of dG in place, strided: cheaper than a transposing copy.
    dG = scratch("lstm_dG", (4, H, T, B), dtype)                 # gates i, f, g, o
    k_all = scratch("lstm_k", acts.shape, dtype)
    z = scratch("lstm_z", (T, B, H + n_in + 1), dtype)

    def prepare(lo, hi):
        _lstm_local_derivatives(k_all, acts, cs, c0_t, lo, hi, reverse)
        if want_w:
            _previous_into(z[lo:hi, :, :H], hs_b, h0, lo, hi, reverse)
            z[lo:hi, :, H:H + n_in] = x[lo:hi]
            z[lo:hi, :, H + n_in] = 1.0

    def contract(lo, hi, parts):
        flat = dG[:, :, lo:hi].reshape(4 * H, (hi - lo) * B)
        parts.append((lo, flat @ z[lo:hi].reshape((hi - lo) * B, -1) if want_w else None,
                      flat.T @ w_ih if needs[0] else None))

    chunks = _chunks(T, reverse)[::-1]                           # in the backward sweep's order
    pool = _worker(4 * H * T * B * (n_in + H))
    ready = [pool.submit(prepare, lo, hi) for lo, hi in chunks]
    parts, done = [], []
    w_hh_t = w_hh.T                                              # (H, 4H)
    tmp = scratch("lstm_tmp", (H, B), dtype)
    dh = np.zeros((H, B), dtype=dtype)
    dc = np.zeros((H, B), dtype=dtype)
    for n_chunk, (lo, hi) in enumerate(chunks):
        ready[n_chunk].result()
        for t in (range(lo, hi) if reverse else range(hi - 1, lo - 1, -1)):
            if t in live_h:
                dh += gh[t]
            if t in live_c:
                dc += gc[t]
            k, d = k_all[t], dG[:, :, t]
            np.multiply(dh, k[4], out=tmp)
            dc += tmp                                            # through h = o tanh(c)
            np.multiply(dc, k[:3], out=d[:3])                    # d i, d f, d g
            np.multiply(dh, k[3], out=d[3])                      # d o
            dc *= acts[t, 1]
            if t != (T - 1 if reverse else 0) or needs[1]:       # the last product feeds only dh0
                np.matmul(w_hh_t, d.reshape(4 * H, B), out=dh)
        done.append(pool.submit(contract, lo, hi, parts))
    for job in done:
        job.result()
    dx = dw_ih = dw_hh = db = None
    if needs[0]:
        dx = np.empty(x.shape, dtype=dtype)
        for lo, _, dx_part in parts:
            dx[lo:lo + len(dx_part) // B] = dx_part.reshape(-1, B, n_in)
    if want_w:
        dw = sum(dw_part for _, dw_part, _ in parts)
        # contiguous copies: the optimizer's elementwise update runs faster on them
        dw_hh, dw_ih, db = (np.ascontiguousarray(dw[:, cols])
                            for cols in (slice(0, H), slice(H, H + n_in), H + n_in))
    return (dx, dh.T if needs[1] else None, dc.T if needs[2] else None,
            dw_ih if needs[3] else None, dw_hh if needs[4] else None,
            db if needs[5] else None, db if needs[6] else None)


# --------------------------------------------------------------------- GRU, RNN and registration


def _one_blas_thread(fn):
    """``fn`` run with BLAS on one thread."""
    def run(*args, **kw):
        with blas_threads(1):
            return fn(*args, **kw)
    run.__name__, run.__doc__ = fn.__name__, f"{fn.__name__}, with BLAS on one thread."
    return run


def _all_numpy(*arrays, **params):
    return all(type(a) is np.ndarray for a in arrays)


def _compiled_takes(*arrays, **params):
    return lstm_native.usable(*arrays)


def register() -> None:
    """Put the compiled LSTM loops (where built), then the NumPy ones, in front of the reference ops."""
    lstm = OPS["lstm_seq"]
    if lstm_native.available():
        lstm.accelerate(forward=native_forward, vjp=native_vjp, lazy_vjp=native_vjp, when=_compiled_takes)
    lstm.accelerate(forward=numpy_forward, vjp=numpy_vjp, lazy_vjp=numpy_vjp, when=_all_numpy)
    for name in ("gru_seq", "rnn_seq"):
        op = OPS[name]
        op.accelerate(forward=_one_blas_thread(op.forward), vjp=_one_blas_thread(op.vjp), when=_all_numpy)
