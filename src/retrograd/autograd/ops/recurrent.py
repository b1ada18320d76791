"""Recurrent sequences (LSTM, GRU, Elman RNN): one primitive per layer and direction, over every time step.

Each forward is the step equations in a loop, after one product that gives
every step's input share of the gates at once; each array VJP is
backpropagation through time: back over the steps keeping every step's gate
gradients, then one product each for dx and the weight gradients. Under
``create_graph`` the engine differentiates the op's composite (the same
sequence as recorded per-step ops) instead, so higher derivatives work.

Gate orders and shapes are PyTorch's (LSTM: i, f, g, o; GRU: r, z, n;
``W_ih`` is (gates*H, in)); inputs are time-major, x (T, B, in), states
(B, H). Outputs, per time step in input order:

* ``lstm_seq``: (2, T, B, H) = [h_t, c_t]; saves the gates (T, B, 4H)
* ``gru_seq``:  (T, B, H) = h_t; saves r, z, n and W_hn h + b_hn (T, B, 4H)
* ``rnn_seq``:  (T, B, H) = h_t

The compiled LSTM loops and the other fast versions are in
``retrograd/accel/recurrent.py``; they give these outputs.
"""
import numpy as np

from ... import backend
from .registry import TENSOR_MATH, primitive


def _sigmoid(z):
    """1 / (1 + exp(-z)); exp(-z) = inf for very negative z gives the right limit, 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _steps(T, reverse):
    """The time steps in the order a direction visits them."""
    return range(T - 1, -1, -1) if reverse else range(T)


def _project(x, w):
    """x (T, B, in) @ w.T for every step at once, as one (T*B, in) product: (T, B, rows of w)."""
    T, B, n_in = x.shape
    return (x.reshape(T * B, n_in) @ w.T).reshape(T, B, -1)


def _previous(seq, first, reverse):
    """The state entering each step (T, B, H): the previous step's output, or ``first`` for the first step."""
    xp = backend.array_module(seq)
    first = xp.asarray(first)[None]
    return xp.concatenate([seq[1:], first]) if reverse else xp.concatenate([first, seq[:-1]])


# --------------------------------------------------------------------- LSTM


@primitive(saves=True)
def lstm_seq(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """h_t and c_t of every step, (2, T, B, H); the gates i, f, g, o of every step are saved."""
    xp = backend.array_module(x)
    T, B, _ = x.shape
    H = h0.shape[-1]
    xz = _project(x, w_ih) + (b_ih + b_hh)         # (T, B, 4H): the input's share of every step's gates
    states = xp.empty((2, T, B, H), dtype=xz.dtype)
    gates = xp.empty((T, B, 4 * H), dtype=xz.dtype)
    h, c = h0, c0
    for t in _steps(T, reverse):
        z = xz[t] + h @ w_hh.T
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), xp.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * xp.tanh(c)
        states[0, t], states[1, t] = h, c
        gates[t] = xp.concatenate([i, f, g, o], axis=1)
    return states, gates


@lstm_seq.defvjp
def lstm_seq_vjp(m, needs, g, out, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False, saved=None):
    xp = backend.array_module(out)
    T, B, _ = x.shape
    H = h0.shape[-1]
    hs, cs = out
    gh, gc = g
    h_prev, c_prev = _previous(hs, h0, reverse), _previous(cs, c0, reverse)
    gates = saved if saved is not None else _lstm_gates(x, h_prev, w_ih, w_hh, b_ih, b_hh)
    dz = xp.empty((T, B, 4 * H), dtype=out.dtype)   # the loss's gradient at every step's gate inputs
    dh = xp.zeros((B, H), dtype=out.dtype)
    dc = xp.zeros((B, H), dtype=out.dtype)
    for t in reversed(_steps(T, reverse)):
        i, f, gg, o = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
        tanh_c = xp.tanh(cs[t])
        dh = dh + gh[t]
        dc = dc + gc[t] + dh * o * (1.0 - tanh_c * tanh_c)    # through h = o tanh(c)
        d = dz[t]
        d[:, :H] = dc * gg * i * (1.0 - i)
        d[:, H:2 * H] = dc * c_prev[t] * f * (1.0 - f)
        d[:, 2 * H:3 * H] = dc * i * (1.0 - gg * gg)
        d[:, 3 * H:] = dh * tanh_c * o * (1.0 - o)
        dc = dc * f
        dh = d @ w_hh
    dx, dw_ih, dw_hh, db = _input_and_weight_grads(dz, x, h_prev, w_ih)
    return (dx if needs[0] else None, dh if needs[1] else None, dc if needs[2] else None,
            dw_ih if needs[3] else None, dw_hh if needs[4] else None,
            db if needs[5] else None, db if needs[6] else None)


def _lstm_gates(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    """The gates of every step, recomputed from the states entering them (a VJP called without saved work)."""
    H = h_prev.shape[-1]
    z = _project(x, w_ih) + _project(h_prev, w_hh) + (b_ih + b_hh)
    gates = _sigmoid(z)
    gates[..., 2 * H:3 * H] = backend.array_module(z).tanh(z[..., 2 * H:3 * H])
    return gates


def _input_and_weight_grads(dz, x, h_prev, w_ih):
    """dx, dW_ih, dW_hh, db from the gradients at every step's gate inputs: one product each."""
    T, B, G = dz.shape
    flat = dz.reshape(T * B, G)
    dx = (flat @ w_ih).reshape(x.shape)
    dw_ih = flat.T @ x.reshape(T * B, -1)
    dw_hh = flat.T @ h_prev.reshape(T * B, -1)
    return dx, dw_ih, dw_hh, flat.sum(axis=0)


@lstm_seq.defcomposite
def lstm_composite(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The same sequence as recorded per-step ops: (2, T, B, H)."""
    T_ = TENSOR_MATH
    H = h0.shape[-1]
    h, c = h0, c0
    hs, cs = {}, {}
    w_ih_t, w_hh_t = T_.transpose(w_ih), T_.transpose(w_hh)
    bias = b_ih + b_hh
    for t in _steps(x.shape[0], reverse):
        z = T_.matmul(x[t], w_ih_t) + T_.matmul(h, w_hh_t) + bias
        i, f, o = T_.sigmoid(z[:, :H]), T_.sigmoid(z[:, H:2 * H]), T_.sigmoid(z[:, 3 * H:])
        g = T_.tanh(z[:, 2 * H:3 * H])
        c = f * c + i * g
        h = o * T_.tanh(c)
        hs[t], cs[t] = h, c
    steps = range(x.shape[0])
    return T_.stack(T_.stack(*[hs[t] for t in steps]), T_.stack(*[cs[t] for t in steps]))


# --------------------------------------------------------------------- GRU


@primitive(saves=True)
def gru_seq(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """h_t of every step, (T, B, H); r, z, n and W_hn h + b_hn of every step are saved."""
    xp = backend.array_module(x)
    T, B, _ = x.shape
    H = h0.shape[-1]
    xw = _project(x, w_ih) + b_ih                   # (T, B, 3H): the input's share of every step's gates
    hs = xp.empty((T, B, H), dtype=xw.dtype)
    kept = xp.empty((T, B, 4 * H), dtype=xw.dtype)  # r, z, n, W_hn h + b_hn
    h = h0
    for t in _steps(T, reverse):
        hw = h @ w_hh.T + b_hh
        r = _sigmoid(xw[t, :, :H] + hw[:, :H])
        z = _sigmoid(xw[t, :, H:2 * H] + hw[:, H:2 * H])
        n = xp.tanh(xw[t, :, 2 * H:] + r * hw[:, 2 * H:])
        h = n + z * (h - n)
        hs[t] = h
        kept[t, :, :H], kept[t, :, H:2 * H], kept[t, :, 2 * H:3 * H], kept[t, :, 3 * H:] = r, z, n, hw[:, 2 * H:]
    return hs, kept


@gru_seq.defvjp
def gru_seq_vjp(m, needs, g, out, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, saved=None):
    xp = backend.array_module(out)
    T, B, _ = x.shape
    H = h0.shape[-1]
    h_prev = _previous(out, h0, reverse)
    kept = saved if saved is not None else gru_kept(x, h_prev, w_ih, w_hh, b_ih, b_hh)
    dx_gates = xp.empty((T, B, 3 * H), dtype=out.dtype)   # gradients at the input's and the state's
    dh_gates = xp.empty((T, B, 3 * H), dtype=out.dtype)   # share of every step's gates
    dh = xp.zeros((B, H), dtype=out.dtype)
    for t in reversed(_steps(T, reverse)):
        r, z, n, hn = (kept[t, :, k * H:(k + 1) * H] for k in range(4))
        dh = dh + g[t]
        dn = dh * (1.0 - z) * (1.0 - n * n)               # through h = n + z (h_prev - n) and tanh
        dr = dn * hn * r * (1.0 - r)
        dz = dh * (h_prev[t] - n) * z * (1.0 - z)
        dx_gates[t, :, :H], dx_gates[t, :, H:2 * H], dx_gates[t, :, 2 * H:] = dr, dz, dn
        dh_gates[t, :, :H], dh_gates[t, :, H:2 * H], dh_gates[t, :, 2 * H:] = dr, dz, dn * r
        dh = dh * z + dh_gates[t] @ w_hh
    flat_x, flat_h = dx_gates.reshape(T * B, -1), dh_gates.reshape(T * B, -1)
    dx = (flat_x @ w_ih).reshape(x.shape) if needs[0] else None
    dw_ih = flat_x.T @ x.reshape(T * B, -1) if needs[2] else None
    dw_hh = flat_h.T @ h_prev.reshape(T * B, -1) if needs[3] else None
    db_ih = flat_x.sum(axis=0) if needs[4] else None
    db_hh = flat_h.sum(axis=0) if needs[5] else None
    return dx, dh if needs[1] else None, dw_ih, dw_hh, db_ih, db_hh


def gru_kept(x, h_prev, w_ih, w_hh, b_ih, b_hh):
    """r, z, n, W_hn h + b_hn of every step (T, B, 4H), recomputed from the states entering them (T, B, H)."""
    H = h_prev.shape[-1]
    xw, hw = _project(x, w_ih) + b_ih, _project(h_prev, w_hh) + b_hh
    rz = _sigmoid(xw[..., :2 * H] + hw[..., :2 * H])
    n = backend.array_module(xw).tanh(xw[..., 2 * H:] + rz[..., :H] * hw[..., 2 * H:])
    return backend.array_module(xw).concatenate([rz, n, hw[..., 2 * H:]], axis=-1)


@gru_seq.defcomposite
def gru_composite(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The same sequence as recorded per-step ops: (T, B, H)."""
    T_ = TENSOR_MATH
    H = h0.shape[-1]
    h, hs = h0, {}
    w_ih_t, w_hh_t = T_.transpose(w_ih), T_.transpose(w_hh)
    for t in _steps(x.shape[0], reverse):
        gx = T_.matmul(x[t], w_ih_t) + b_ih
        gh = T_.matmul(h, w_hh_t) + b_hh
        r = T_.sigmoid(gx[:, :H] + gh[:, :H])
        z = T_.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = T_.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = n + z * (h - n)
        hs[t] = h
    return T_.stack(*[hs[t] for t in range(x.shape[0])])


# --------------------------------------------------------------------- Elman RNN


@primitive
def rnn_seq(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    """h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) of every step, (T, B, H)."""
    xp = backend.array_module(x)
    hs = _project(x, w_ih) + (b_ih + b_hh)          # the input's share of every step, then the steps in place
    h = h0
    for t in _steps(x.shape[0], reverse):
        row = hs[t]
        row += h @ w_hh.T
        if nonlinearity == "tanh":
            xp.tanh(row, out=row)
        else:
            xp.maximum(row, 0, out=row)
        h = row
    return hs


@rnn_seq.defvjp
def rnn_seq_vjp(m, needs, g, out, x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    xp = backend.array_module(out)
    T, B, H = out.shape
    dpre = xp.empty_like(out)                       # the loss's gradient at every step's pre-activation
    dh = xp.zeros((B, H), dtype=out.dtype)
    for t in reversed(_steps(T, reverse)):
        dh = dh + g[t]
        h = out[t]
        dpre[t] = dh * (1.0 - h * h) if nonlinearity == "tanh" else dh * (h > 0)
        dh = dpre[t] @ w_hh
    flat = dpre.reshape(T * B, H)
    dx = (flat @ w_ih).reshape(x.shape) if needs[0] else None
    dw_ih = flat.T @ x.reshape(T * B, -1) if needs[2] else None
    dw_hh = flat.T @ _previous(out, h0, reverse).reshape(T * B, -1) if needs[3] else None
    db = flat.sum(axis=0)
    return dx, dh if needs[1] else None, dw_ih, dw_hh, db if needs[4] else None, db if needs[5] else None


@rnn_seq.defcomposite
def rnn_composite(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=False, nonlinearity="tanh"):
    """The same sequence as recorded per-step ops: (T, B, H)."""
    T_ = TENSOR_MATH
    act = T_.tanh if nonlinearity == "tanh" else T_.relu
    h, hs = h0, {}
    w_ih_t, w_hh_t = T_.transpose(w_ih), T_.transpose(w_hh)
    for t in _steps(x.shape[0], reverse):
        h = act(T_.matmul(x[t], w_ih_t) + b_ih + T_.matmul(h, w_hh_t) + b_hh)
        hs[t] = h
    return T_.stack(*[hs[t] for t in range(x.shape[0])])
