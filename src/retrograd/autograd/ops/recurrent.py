"""Fused recurrent sequences (LSTM, GRU, Elman RNN): one primitive per layer and direction.

The forward computes ``x @ W_ih.T`` for every time step in batched GEMMs, then
loops over time with one small GEMM per step. The array-mode backward is a
hand-written BPTT loop in NumPy that keeps the gate gradients of every step
and gets ``dW_ih``, ``dW_hh`` and ``dx`` from GEMMs over all steps (the LSTM
runs these batched jobs chunk by chunk on a background thread, beside the
loop, when the sequence is large: see ``OVERLAP_ABOVE``). Under
``create_graph`` the rule instead recomputes the sequence with recorded
per-step ops and differentiates that, so higher derivatives still work.

Where the optional C extension was built, the LSTM's forward and BPTT loops
on NumPy float32/float64 arrays run compiled instead, the batch split over two
threads (``native.py``, ``lstm_kernel.c``); they take and give the same arrays
as the NumPy loops here, which remain the fallback.

Gate orders and shapes are PyTorch's (LSTM: i, f, g, o; GRU: r, z, n;
``W_ih`` is (gates*H, in)). The outputs, per time step in input order:

* ``lstm_seq``: (2, T, H, B) = [h^T, c^T], feature-major; the activations the
  backward needs (gates i, f, g, o and tanh(c)) are saved work
  (``saves=True``), not part of the output
* ``gru_seq``:  (T, B, 5H) = [h, r, z, n, W_hn h_prev + b_hn]
* ``rnn_seq``:  (T, B, H)  = [h]

Only the state part is differentiable (h, and c for the LSTM); the cotangent
of the saved activations is ignored, and the layers in ``retrograd.nn`` never
expose them.
"""
import numpy as np

from ... import backend
from ...accel import lstm_native as native
from ...accel.scattered import Scattered, dense
from .registry import ARRAY_MATH, primitive
from ...accel.workspace import helper_thread, recycled, scratch


def _sigmoid(x, out=None):
    """1/(1 + exp(-x)) in place of ``out``: np.exp is vectorised, scipy's expit is 10x slower here.

    exp(-x) overflows to inf for very negative x, and 1/(1 + inf) = 0 is the right limit.
    """
    out = np.empty_like(x) if out is None else out
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


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


def _previous(states, first, reverse):
    """The state entering each step: (T, B, H) from the per-step outputs and the initial state."""
    prev = scratch("previous", states.shape, states.dtype)
    if reverse:
        prev[-1] = first
        prev[:-1] = states[1:]
    else:
        prev[0] = first
        prev[1:] = states[:-1]
    return prev


def _input_grads(needs, dG, x, w_ih, prev_h, dGh=None):
    """dx, dW_ih, dW_hh, db_ih, db_hh from the per-step gate gradients (one GEMM each)."""
    T, B, G = dG.shape
    flat = dG.reshape(T * B, G)
    flat_h = flat if dGh is None else dGh.reshape(T * B, G)
    dx = (flat @ w_ih).reshape(x.shape) if needs[0] else None
    dw_ih = flat.T @ x.reshape(T * B, -1) if needs[1] else None
    dw_hh = flat_h.T @ prev_h.reshape(T * B, -1) if needs[2] else None
    db_ih = flat.sum(axis=0) if needs[3] else None
    db_hh = flat_h.sum(axis=0) if needs[4] else None
    return dx, dw_ih, dw_hh, db_ih, db_hh


def _recorded_vjp(composite, cots, inputs, needs, **kw):
    """Create-graph path: rebuild the sequence with recorded ops and differentiate it against cots.

    ``cots`` are the cotangents of the composite's outputs, (T, B, H) each.
    """
    from ..engine import compute_grads
    from ..tensor import Tensor
    states = composite(*inputs, **kw)         # list of (T, B, H) tensors: h (and c)
    wanted = [a for a, n in zip(inputs, needs) if n and isinstance(a, Tensor)]
    grads = compute_grads(states, cots, inputs=wanted, create_graph=True, accumulate=False)
    it = iter(grads)
    return tuple(next(it) if (n and isinstance(a, Tensor)) else None for a, n in zip(inputs, needs))


# --------------------------------------------------------------------- LSTM


def _lstm_seq_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    if native.usable(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        return native.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    # Feature-major layout: every per-step array is (features, batch), so the step's
    # GEMM W_hh @ h^T writes the four gates as four contiguous (H, B) blocks and every
    # elementwise op below runs on contiguous memory (row slices of a (B, 4H) block
    # cost up to twice as much per op here).
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


def lstm_composite(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The same sequence as recorded per-step ops: returns [h (T,B,H), c (T,B,H)]."""
    from .. import functions as F
    H = h0.shape[-1]
    h, c = h0, c0
    hs, cs = {}, {}
    w_ih_t, w_hh_t = F.transpose(w_ih), F.transpose(w_hh)
    bias = b_ih + b_hh
    for t in _steps(x.shape[0], reverse):
        pre = F.matmul(x[t], w_ih_t) + F.matmul(h, w_hh_t) + bias
        i = F.sigmoid(pre[:, :H])
        f = F.sigmoid(pre[:, H:2 * H])
        gg = F.tanh(pre[:, 2 * H:3 * H])
        o = F.sigmoid(pre[:, 3 * H:])
        c = f * c + i * gg
        h = o * F.tanh(c)
        hs[t], cs[t] = h, c
    T = x.shape[0]
    return [F.stack([hs[t] for t in range(T)]), F.stack([cs[t] for t in range(T)])]


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


def _lstm_seq_backward(m, needs, g, out, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False, saved=None):
    if m is not ARRAY_MATH:
        # the cotangent arrives as (2, T, H, B): h^T and c^T; the composite returns (T, B, H)
        cots = [m.transpose(m.getitem(g, index=k), axes=(0, 2, 1)) for k in range(2)]
        return _recorded_vjp(lstm_composite, cots, (x, h0, c0, w_ih, w_hh, b_ih, b_hh), needs,
                             reverse=reverse)
    if native.usable(x, h0, c0, w_ih, w_hh, b_ih, b_hh, saved, out):
        return _lstm_native_backward(needs, g, out, x, h0, w_ih, w_hh, c0, reverse, saved)
    g = dense(g)
    acts = saved
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


def _live_steps(g):
    """The cotangent of the states (2, T, H, B) as (gh, gc, first) for native.lstm_backward.

    A lazy cotangent that holds one step of h or of c (the usual ``out[-1]``, or h_n)
    passes just that step; anything else passes all of gh and gc from step 0.
    """
    if type(g) is Scattered:
        part, step, *rest = g.index
        if type(part) is int and type(step) is int and all(
                r == slice(0, n, 1) for r, n in zip(rest, g.shape[2:])):
            one = g.values[None]
            return (one, None, step) if part == 0 else (None, one, step)
        g = g.dense()
    return g[0], g[1], 0


def _lstm_native_backward(needs, g, out, x, h0, w_ih, w_hh, c0, reverse, acts):
    """The compiled BPTT (native.py), in the order of the op's inputs."""
    dx, dh0, dc0, dw = native.lstm_backward(acts, out, x, h0, c0, _live_steps(g), w_ih, w_hh,
                                            want_dx=needs[0], want_dh0=needs[1], want_dw=any(needs[3:]),
                                            reverse=reverse)
    dw_hh, dw_ih, db = dw if dw is not None else (None, None, None)
    return (dx, dh0.T if needs[1] else None, dc0.T if needs[2] else None,
            dw_ih if needs[3] else None, dw_hh if needs[4] else None,
            db if needs[5] else None, db if needs[6] else None)


# --------------------------------------------------------------------- GRU


def _gru_seq_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    T, B, _ = x.shape
    H = h0.shape[-1]
    out = recycled("gru_out", (T, B, 5 * H), np.result_type(x, w_ih))
    xw = (x.reshape(T * B, -1) @ w_ih.T).reshape(T, B, 3 * H)
    xw += b_ih
    w_hh_t = w_hh.T
    h = h0
    for t in _steps(T, reverse):
        hw = h @ w_hh_t
        hw += b_hh
        row = out[t]
        pre = xw[t]
        pre[:, :2 * H] += hw[:, :2 * H]
        rz = row[:, H:3 * H]
        _sigmoid(pre[:, :2 * H], out=rz)
        row[:, 4 * H:] = hw[:, 2 * H:]                               # W_hn h + b_hn, kept for backward
        n = row[:, 3 * H:4 * H]
        np.multiply(rz[:, :H], hw[:, 2 * H:], out=n)
        n += pre[:, 2 * H:]
        np.tanh(n, out=n)
        h_new = row[:, :H]
        np.subtract(h, n, out=h_new)                                 # h' = n + z (h - n)
        h_new *= rz[:, H:]
        h_new += n
        h = h_new
    return out


def gru_composite(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The same sequence as recorded per-step ops: returns [h (T,B,H)]."""
    from .. import functions as F
    H = h0.shape[-1]
    h, hs = h0, {}
    w_ih_t, w_hh_t = F.transpose(w_ih), F.transpose(w_hh)
    for t in _steps(x.shape[0], reverse):
        gx = F.matmul(x[t], w_ih_t) + b_ih
        gh = F.matmul(h, w_hh_t) + b_hh
        r = F.sigmoid(gx[:, :H] + gh[:, :H])
        z = F.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = F.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = n + z * (h - n)
        hs[t] = h
    return [F.stack([hs[t] for t in range(x.shape[0])])]


def _gru_seq_backward(m, needs, g, out, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    if m is not ARRAY_MATH:
        cots = [m.getitem(g, index=(Ellipsis, slice(0, h0.shape[-1])))]
        return _recorded_vjp(gru_composite, cots, (x, h0, w_ih, w_hh, b_ih, b_hh), needs, reverse=reverse)
    T, B, _ = x.shape
    H = h0.shape[-1]
    gh = g[..., :H]
    hs = out[..., :H]
    dGx = scratch("gru_dGx", (T, B, 3 * H), out.dtype)
    dGh = scratch("gru_dGh", (T, B, 3 * H), out.dtype)
    dh = np.zeros((B, H), dtype=out.dtype)
    order = list(_steps(T, reverse))
    for k in range(T - 1, -1, -1):
        t = order[k]
        h_prev = hs[order[k - 1]] if k > 0 else h0
        dh += gh[t]
        row = out[t]
        r, z, n, hn = row[:, H:2 * H], row[:, 2 * H:3 * H], row[:, 3 * H:4 * H], row[:, 4 * H:]
        dx_t, dh_t = dGx[t], dGh[t]
        dn = dh * (1.0 - z) * (1.0 - n * n)                      # through tanh
        dx_t[:, 2 * H:] = dn
        np.multiply(dn, r, out=dh_t[:, 2 * H:])
        dr = dn * hn
        np.multiply(dr, r * (1.0 - r), out=dx_t[:, :H])
        np.multiply(dh * (h_prev - n), z * (1.0 - z), out=dx_t[:, H:2 * H])
        dh_t[:, :2 * H] = dx_t[:, :2 * H]
        dh = dh * z + dh_t @ w_hh
    dx, dw_ih, dw_hh, db_ih, db_hh = _input_grads(
        (needs[0], needs[2], needs[3], needs[4], needs[5]), dGx, x, w_ih,
        _previous(hs, h0, reverse) if needs[3] else None, dGh=dGh)
    return (dx, dh if needs[1] else None, dw_ih, dw_hh, db_ih, db_hh)


# --------------------------------------------------------------------- Elman RNN


def _rnn_seq_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    T, B, _ = x.shape
    out = recycled("rnn_out", (T, B, w_ih.shape[0]), np.result_type(x, w_ih))
    np.matmul(x.reshape(T * B, -1), w_ih.T, out=out.reshape(T * B, -1))
    out += b_ih + b_hh
    w_hh_t = w_hh.T
    h = h0
    for t in _steps(T, reverse):
        row = out[t]
        row += h @ w_hh_t
        if nonlinearity == "tanh":
            np.tanh(row, out=row)
        else:
            np.maximum(row, 0, out=row)
        h = row
    return out


def rnn_composite(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    """The same sequence as recorded per-step ops: returns [h (T,B,H)]."""
    from .. import functions as F
    act = F.tanh if nonlinearity == "tanh" else F.relu
    h, hs = h0, {}
    w_ih_t, w_hh_t = F.transpose(w_ih), F.transpose(w_hh)
    for t in _steps(x.shape[0], reverse):
        h = act(F.matmul(x[t], w_ih_t) + b_ih + F.matmul(h, w_hh_t) + b_hh)
        hs[t] = h
    return [F.stack([hs[t] for t in range(x.shape[0])])]


def _rnn_seq_backward(m, needs, g, out, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    if m is not ARRAY_MATH:
        return _recorded_vjp(rnn_composite, [g], (x, h0, w_ih, w_hh, b_ih, b_hh), needs,
                             reverse=reverse, nonlinearity=nonlinearity)
    T, B, H = out.shape
    dG = scratch("rnn_dG", out.shape, out.dtype)
    dh = np.zeros((B, H), dtype=out.dtype)
    order = list(_steps(T, reverse))
    for k in range(T - 1, -1, -1):
        t = order[k]
        dh += g[t]
        h = out[t]
        if nonlinearity == "tanh":
            np.multiply(dh, 1.0 - h * h, out=dG[t])
        else:
            np.multiply(dh, h > 0, out=dG[t])
        dh = dG[t] @ w_hh
    dx, dw_ih, dw_hh, db_ih, db_hh = _input_grads(
        (needs[0], needs[2], needs[3], needs[4], needs[5]), dG, x, w_ih,
        _previous(out, h0, reverse) if needs[3] else None)
    return (dx, dh if needs[1] else None, dw_ih, dw_hh, db_ih, db_hh)


# --------------------------------------------------------------------- registration


@primitive(saves=True)
def lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    if native.usable(x, h0, c0, w_ih, w_hh, b_ih, b_hh):      # the compiled loops call no BLAS
        return _lstm_seq_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    with backend.blas_threads(1):
        return _lstm_seq_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)


lstm_seq.takes_scattered = True     # one live step of out[-1] or h_n reaches the kernel as it is


@lstm_seq.defvjp
def lstm_seq_vjp(m, needs, g, out, *inputs, reverse=False, saved=None):
    if m is ARRAY_MATH and native.usable(*inputs, saved, out):  # the compiled loops call no BLAS
        return _lstm_seq_backward(m, needs, g, out, *inputs, reverse=reverse, saved=saved)
    with backend.blas_threads(1):
        return _lstm_seq_backward(m, needs, g, out, *inputs, reverse=reverse, saved=saved)


@primitive
def gru_seq(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    with backend.blas_threads(1):
        return _gru_seq_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse)


@gru_seq.defvjp
def gru_seq_vjp(m, needs, g, out, *inputs, reverse=False):
    with backend.blas_threads(1):
        return _gru_seq_backward(m, needs, g, out, *inputs, reverse=reverse)


@primitive
def rnn_seq(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    with backend.blas_threads(1):
        return _rnn_seq_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, nonlinearity)


@rnn_seq.defvjp
def rnn_seq_vjp(m, needs, g, out, *inputs, reverse=False, nonlinearity="tanh"):
    with backend.blas_threads(1):
        return _rnn_seq_backward(m, needs, g, out, *inputs, reverse=reverse, nonlinearity=nonlinearity)
