"""Fused recurrent sequences (LSTM, GRU, Elman RNN): one primitive per layer and direction.

The forward computes ``x @ W_ih.T`` for every time step in one GEMM, then
loops over time with one small GEMM per step. The array-mode backward is a
hand-written BPTT loop in NumPy that keeps the gate gradients of every step
and finishes with one GEMM each for ``dW_ih``, ``dW_hh`` and ``dx``. Under
``create_graph`` the rule instead recomputes the sequence with recorded
per-step ops and differentiates that, so higher derivatives still work.

Gate orders and shapes are PyTorch's (LSTM: i, f, g, o; GRU: r, z, n;
``W_ih`` is (gates*H, in)). The output holds, per time step (in input order),
the state followed by the activations the backward needs:

* ``lstm_seq``: (T, B, 7H) = [h, c, i, f, o, g, tanh(c)] (gates in an internal order)
* ``gru_seq``:  (T, B, 5H) = [h, r, z, n, W_hn h_prev + b_hn]
* ``rnn_seq``:  (T, B, H)  = [h]

Only the state part is differentiable (h, and c for the LSTM); the cotangent
of the saved activations is ignored, and the layers in ``retrograd.nn`` never
expose them.
"""
import threading

import numpy as np

from ... import backend
from .registry import ARRAY_MATH, primitive

_SCRATCH = threading.local()


def scratch(tag, shape, dtype):
    """A reusable work array for temporaries that never leave a kernel (per thread, per shape).

    Fresh multi-megabyte arrays come from mmap and are returned to the OS when
    freed, so every training step would page-fault them in again (measured:
    about a third of an LSTM step on the shared machine). Only arrays that die
    inside the kernel that asked for them may live here.
    """
    store = getattr(_SCRATCH, "arrays", None)
    if store is None:
        store = _SCRATCH.arrays = {}
    key = (tag, tuple(shape), np.dtype(dtype).str)
    arr = store.get(key)
    if arr is None:
        if len(store) > 32:
            store.clear()
        arr = store[key] = np.empty(shape, dtype=dtype)
    return arr


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


def _recorded_vjp(composite, g, inputs, needs, n_state, **kw):
    """Create-graph path: rebuild the sequence with recorded ops and differentiate it against g."""
    from .. import functions as F
    from ..engine import compute_grads
    from ..tensor import Tensor
    states = composite(*inputs, **kw)         # list of (T, B, H) tensors: h (and c)
    H = states[0].shape[-1]
    cots = [F.getitem(g, (Ellipsis, slice(k * H, (k + 1) * H))) for k in range(n_state)]
    wanted = [a for a, n in zip(inputs, needs) if n and isinstance(a, Tensor)]
    grads = compute_grads(states, cots, inputs=wanted, create_graph=True, accumulate=False)
    it = iter(grads)
    return tuple(next(it) if (n and isinstance(a, Tensor)) else None for a, n in zip(inputs, needs))


# --------------------------------------------------------------------- LSTM


def _swap_g_o(a, H):
    """Swap the g and o gate blocks: PyTorch's i, f, g, o <-> the internal i, f, o, g (its own inverse)."""
    return np.concatenate([a[:2 * H], a[3 * H:], a[2 * H:3 * H]])


def _lstm_seq_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    # Internally the gates run in the order i, f, o, g so the three sigmoids are one
    # block, and every nonlinearity is one exp: with the weights negated (and the
    # g rows doubled) once per sequence, e = exp(-z) gives sigmoid(z) = 1/(1 + e)
    # and tanh(z) = 2 sigmoid(2z) - 1. np.exp is several times faster than
    # np.tanh or scipy's expit on this machine.
    T, B, _ = x.shape
    H = h0.shape[-1]
    dtype = np.result_type(x, w_ih)
    scale = np.full((4 * H, 1), -1.0, dtype=dtype)
    scale[3 * H:] = -2.0
    w_ih_n = _swap_g_o(w_ih, H) * scale
    w_hh_n_t = np.ascontiguousarray((_swap_g_o(w_hh, H) * scale).T)
    bias_n = _swap_g_o(b_ih + b_hh, H) * scale[:, 0]
    out = np.empty((T, B, 7 * H), dtype=dtype)
    xw = np.matmul(x.reshape(T * B, -1), w_ih_n.T, out=scratch("lstm_xw", (T * B, 4 * H), dtype))
    xw = xw.reshape(T, B, 4 * H)
    xw += bias_n
    h, c = h0, c0
    with np.errstate(over="ignore"):
        for t in _steps(T, reverse):
            pre = xw[t]
            pre += h @ w_hh_n_t
            row = out[t]
            acts = row[:, 2 * H:6 * H]                           # i, f, o, g
            np.exp(pre, out=acts)
            acts += 1.0
            np.reciprocal(acts, out=acts)
            g = acts[:, 3 * H:]
            g *= 2.0
            g -= 1.0
            c_new = row[:, H:2 * H]
            np.multiply(acts[:, H:2 * H], c, out=c_new)
            c_new += acts[:, :H] * g
            tc = row[:, 6 * H:]
            np.multiply(c_new, -2.0, out=tc)
            np.exp(tc, out=tc)
            tc += 1.0
            np.reciprocal(tc, out=tc)
            tc *= 2.0
            tc -= 1.0
            h_new = row[:, :H]
            np.multiply(acts[:, 2 * H:3 * H], tc, out=h_new)
            h, c = h_new, c_new
    return out


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


def _lstm_seq_backward(m, needs, g, out, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    if m is not ARRAY_MATH:
        return _recorded_vjp(lstm_composite, g, (x, h0, c0, w_ih, w_hh, b_ih, b_hh), needs, 2,
                             reverse=reverse)
    T, B, _ = x.shape
    H = h0.shape[-1]
    gh, gc = g[..., :H], g[..., H:2 * H]
    # only the steps whose state receives an outside gradient need the two adds
    live_h = np.flatnonzero(np.any(gh, axis=(1, 2)))
    live_c = np.flatnonzero(np.any(gc, axis=(1, 2)))
    hs, cs = out[..., :H], out[..., H:2 * H]
    w_hh_i = _swap_g_o(w_hh, H)
    dG = scratch("lstm_dG", (T, B, 4 * H), out.dtype)            # internal order i, f, o, g
    dh = np.zeros((B, H), dtype=out.dtype)
    dc = np.zeros((B, H), dtype=out.dtype)
    live_h, live_c = set(live_h.tolist()), set(live_c.tolist())
    order = list(_steps(T, reverse))
    for k in range(T - 1, -1, -1):
        t = order[k]
        c_prev = cs[order[k - 1]] if k > 0 else c0
        if t in live_h:
            dh += gh[t]
        if t in live_c:
            dc += gc[t]
        row = out[t]
        sig, gg, tc = row[:, 2 * H:5 * H], row[:, 5 * H:6 * H], row[:, 6 * H:]
        i, f, o = sig[:, :H], sig[:, H:2 * H], sig[:, 2 * H:]
        da = dG[t]
        np.multiply(dh, tc, out=da[:, 2 * H:3 * H])              # d o
        tmp = tc * tc
        np.subtract(1.0, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp                                                # through h = o tanh(c)
        np.multiply(dc, gg, out=da[:, :H])                       # d i
        np.multiply(dc, c_prev, out=da[:, H:2 * H])              # d f
        np.multiply(dc, i, out=da[:, 3 * H:])                    # d g
        dc *= f
        d_sig = 1.0 - sig
        d_sig *= sig
        da[:, :3 * H] *= d_sig                                   # sigmoid'
        d_tanh = gg * gg
        np.subtract(1.0, d_tanh, out=d_tanh)
        da[:, 3 * H:] *= d_tanh                                  # tanh'
        dh = da @ w_hh_i
    flat = dG.reshape(T * B, 4 * H)
    dx = (flat @ _swap_g_o(w_ih, H)).reshape(x.shape) if needs[0] else None
    dw_ih = _swap_g_o(flat.T @ x.reshape(T * B, -1), H) if needs[3] else None
    dw_hh = (_swap_g_o(flat.T @ _previous(hs, h0, reverse).reshape(T * B, H), H)
             if needs[4] else None)
    db = _swap_g_o(flat.sum(axis=0), H) if (needs[5] or needs[6]) else None
    return (dx, dh if needs[1] else None, dc if needs[2] else None, dw_ih, dw_hh,
            db if needs[5] else None, db if needs[6] else None)


# --------------------------------------------------------------------- GRU


def _gru_seq_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    T, B, _ = x.shape
    H = h0.shape[-1]
    out = np.empty((T, B, 5 * H), dtype=np.result_type(x, w_ih))
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
        return _recorded_vjp(gru_composite, g, (x, h0, w_ih, w_hh, b_ih, b_hh), needs, 1,
                             reverse=reverse)
    T, B, _ = x.shape
    H = h0.shape[-1]
    gh = g[..., :H]
    hs = out[..., :H]
    dGx = np.empty((T, B, 3 * H), dtype=out.dtype)
    dGh = np.empty((T, B, 3 * H), dtype=out.dtype)
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
    out = (x.reshape(T * B, -1) @ w_ih.T).reshape(T, B, -1)
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
        return _recorded_vjp(rnn_composite, g, (x, h0, w_ih, w_hh, b_ih, b_hh), needs, 1,
                             reverse=reverse, nonlinearity=nonlinearity)
    T, B, H = out.shape
    dG = np.empty_like(out)
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


@primitive
def lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    with backend.blas_threads(1):
        return _lstm_seq_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)


@lstm_seq.defvjp
def lstm_seq_vjp(m, needs, g, out, *inputs, reverse=False):
    with backend.blas_threads(1):
        return _lstm_seq_backward(m, needs, g, out, *inputs, reverse=reverse)


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
