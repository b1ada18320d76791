"""LSTM, GRU and Elman RNN sequences on the GPU: one matrix product and one fused gate kernel per time step.

The reference loops (``autograd/ops/recurrent.py``) run on CuPy as they are,
at about fifteen small kernels per LSTM step (the gate slices, three
sigmoids, two tanh, the products and the writes). Here each step is the
state's matrix product (cuBLAS) and one elementwise kernel that reads the
step's gate inputs and writes the new state and the saved gates; each step
of the backward pass is one kernel for the gate gradients and one product
back to the previous state. The outputs and the saved work have the
reference's layouts ((2, T, B, H) and the gates (T, B, 4H) for the LSTM;
(T, B, H) and r, z, n, W_hn h + b_hn for the GRU), so either VJP reads
either forward's work. The input and weight gradients are the reference's
three products over all steps at once.
"""
from typing import Any

from ..autograd.ops import recurrent as ref
from ..autograd.ops.registry import OPS
from .cuda_common import all_on_gpu, available, contiguous, kernel, cupy_module

_SIGMOID = "T sig(T z) { return (T)1 / ((T)1 + exp(-z)); }"

_LSTM_STEP = """
int b = i / H, j = i % H, at = b * 4 * H + j;
T zi = xz[at] + hz[at], zf = xz[at + H] + hz[at + H], zg = xz[at + 2 * H] + hz[at + 2 * H],
  zo = xz[at + 3 * H] + hz[at + 3 * H];
T ig = (T)1 / ((T)1 + exp(-zi)), fg = (T)1 / ((T)1 + exp(-zf)), gg = tanh(zg),
  og = (T)1 / ((T)1 + exp(-zo));
T c = fg * c_prev[i] + ig * gg;
c_out[i] = c;
h_out[i] = og * tanh(c);
gates[at] = ig; gates[at + H] = fg; gates[at + 2 * H] = gg; gates[at + 3 * H] = og;
"""

_LSTM_BACK = """
int b = i / H, j = i % H, at = b * 4 * H + j;
T ig = gates[at], fg = gates[at + H], gg = gates[at + 2 * H], og = gates[at + 3 * H];
T tc = tanh(c[i]);
T dh = dh_in[i] + gh[i];
T dc = dc_in[i] + gc[i] + dh * og * ((T)1 - tc * tc);
dz[at] = dc * gg * ig * ((T)1 - ig);
dz[at + H] = dc * c_prev[i] * fg * ((T)1 - fg);
dz[at + 2 * H] = dc * ig * ((T)1 - gg * gg);
dz[at + 3 * H] = dh * tc * og * ((T)1 - og);
dc_out[i] = dc * fg;
"""


def _lstm_kernels(cp: Any) -> tuple:
    step = cp.ElementwiseKernel(
        "raw T xz, raw T hz, raw T c_prev, int32 H", "raw T h_out, raw T c_out, raw T gates",
        _LSTM_STEP, "retrograd_lstm_step")
    back = cp.ElementwiseKernel(
        "raw T gates, raw T c, raw T c_prev, raw T gh, raw T gc, raw T dh_in, raw T dc_in, int32 H",
        "raw T dz, raw T dc_out", _LSTM_BACK, "retrograd_lstm_back")
    return step, back


def lstm_forward(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
                 reverse: bool = False) -> tuple:
    """The reference's (states (2, T, B, H), gates (T, B, 4H)), one product and one kernel per step."""
    cp = cupy_module()
    step, _ = kernel("lstm", _lstm_kernels)
    T, B, _ = x.shape
    H = h0.shape[-1]
    xz = ref._project(x, w_ih) + (b_ih + b_hh)
    states = cp.empty((2, T, B, H), dtype=xz.dtype)
    gates = cp.empty((T, B, 4 * H), dtype=xz.dtype)
    w_hh_t = w_hh.T
    h, c = contiguous(h0.astype(xz.dtype, copy=False)), contiguous(c0.astype(xz.dtype, copy=False))
    for t in ref._steps(T, reverse):
        step(xz[t], h @ w_hh_t, c, H, states[0, t], states[1, t], gates[t], size=B * H)
        h, c = states[0, t], states[1, t]
    return states, gates


def lstm_vjp(m: Any, needs: Any, g: Any, out: Any, x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any,
             b_hh: Any, reverse: bool = False, saved: Any = None) -> tuple:
    """BPTT with one gate-gradient kernel and one product per step; the reference's products after."""
    cp = cupy_module()
    _, back = kernel("lstm", _lstm_kernels)
    T, B, _ = x.shape
    H = h0.shape[-1]
    hs, cs = out
    g = contiguous(g)
    h_prev, c_prev = ref._previous(hs, h0, reverse), ref._previous(cs, c0, reverse)
    gates = saved if saved is not None else ref._lstm_gates(x, h_prev, w_ih, w_hh, b_ih, b_hh)
    gates = contiguous(gates)
    c_prev = contiguous(c_prev)
    dz = cp.empty((T, B, 4 * H), dtype=out.dtype)
    dh = cp.zeros((B, H), dtype=out.dtype)
    dc, dc_next = cp.zeros((B, H), dtype=out.dtype), cp.empty((B, H), dtype=out.dtype)
    for t in reversed(ref._steps(T, reverse)):
        back(gates[t], cs[t], c_prev[t], g[0, t], g[1, t], dh, dc, H, dz[t], dc_next, size=B * H)
        dc, dc_next = dc_next, dc
        dh = dz[t] @ w_hh
    dx, dw_ih, dw_hh, db = ref._input_and_weight_grads(dz, x, h_prev, w_ih)
    return (dx if needs[0] else None, dh if needs[1] else None, dc if needs[2] else None,
            dw_ih if needs[3] else None, dw_hh if needs[4] else None,
            db if needs[5] else None, db if needs[6] else None)


_GRU_STEP = """
int b = i / H, j = i % H, at = b * 3 * H + j, kt = b * 4 * H + j;
T hr = hw[at] + b_hh[j], hz = hw[at + H] + b_hh[j + H], hn = hw[at + 2 * H] + b_hh[j + 2 * H];
T r = (T)1 / ((T)1 + exp(-(xw[at] + hr)));
T z = (T)1 / ((T)1 + exp(-(xw[at + H] + hz)));
T n = tanh(xw[at + 2 * H] + r * hn);
T hp = h_prev[i];
h_out[i] = n + z * (hp - n);
kept[kt] = r; kept[kt + H] = z; kept[kt + 2 * H] = n; kept[kt + 3 * H] = hn;
"""

_GRU_BACK = """
int b = i / H, j = i % H, at = b * 3 * H + j, kt = b * 4 * H + j;
T r = kept[kt], z = kept[kt + H], n = kept[kt + 2 * H], hn = kept[kt + 3 * H];
T dh = dh_a[i] + dh_b[i] + gt[i];
T dn = dh * ((T)1 - z) * ((T)1 - n * n);
T dr = dn * hn * r * ((T)1 - r);
T dzg = dh * (h_prev[i] - n) * z * ((T)1 - z);
dxg[at] = dr; dxg[at + H] = dzg; dxg[at + 2 * H] = dn;
dhg[at] = dr; dhg[at + H] = dzg; dhg[at + 2 * H] = dn * r;
dh_keep[i] = dh * z;
"""


def _gru_kernels(cp: Any) -> tuple:
    step = cp.ElementwiseKernel("raw T xw, raw T hw, raw T b_hh, raw T h_prev, int32 H", "raw T h_out, raw T kept",
                                _GRU_STEP, "retrograd_gru_step")
    back = cp.ElementwiseKernel("raw T kept, raw T h_prev, raw T gt, raw T dh_a, raw T dh_b, int32 H",
                                "raw T dxg, raw T dhg, raw T dh_keep", _GRU_BACK, "retrograd_gru_back")
    return step, back


def gru_forward(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, reverse: bool = False) -> tuple:
    """The reference's (h (T, B, H), kept r, z, n, W_hn h + b_hn (T, B, 4H)), one product and one kernel a step."""
    cp = cupy_module()
    step, _ = kernel("gru", _gru_kernels)
    T, B, _ = x.shape
    H = h0.shape[-1]
    xw = ref._project(x, w_ih) + b_ih
    hs = cp.empty((T, B, H), dtype=xw.dtype)
    kept = cp.empty((T, B, 4 * H), dtype=xw.dtype)
    b_hh, w_hh_t = contiguous(b_hh), w_hh.T
    h = contiguous(h0.astype(xw.dtype, copy=False))
    for t in ref._steps(T, reverse):
        step(xw[t], h @ w_hh_t, b_hh, h, H, hs[t], kept[t], size=B * H)
        h = hs[t]
    return hs, kept


def gru_vjp(m: Any, needs: Any, g: Any, out: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
            reverse: bool = False, saved: Any = None) -> tuple:
    """BPTT with one kernel and one product per step; the reference's products after."""
    cp = cupy_module()
    _, back = kernel("gru", _gru_kernels)
    T, B, _ = x.shape
    H = h0.shape[-1]
    g = contiguous(g)
    h_prev = contiguous(ref._previous(out, h0, reverse))
    kept = saved if saved is not None else ref.gru_kept(x, h_prev, w_ih, w_hh, b_ih, b_hh)
    kept = contiguous(kept)
    dx_gates = cp.empty((T, B, 3 * H), dtype=out.dtype)
    dh_gates = cp.empty((T, B, 3 * H), dtype=out.dtype)
    dh_a, dh_b = cp.zeros((B, H), dtype=out.dtype), cp.zeros((B, H), dtype=out.dtype)
    keep = cp.empty((B, H), dtype=out.dtype)
    for t in reversed(ref._steps(T, reverse)):
        back(kept[t], h_prev[t], g[t], dh_a, dh_b, H, dx_gates[t], dh_gates[t], keep, size=B * H)
        dh_a, keep = keep, dh_a
        dh_b = dh_gates[t] @ w_hh
    dh = dh_a + dh_b
    flat_x, flat_h = dx_gates.reshape(T * B, -1), dh_gates.reshape(T * B, -1)
    dx = (flat_x @ w_ih).reshape(x.shape) if needs[0] else None
    dw_ih = flat_x.T @ x.reshape(T * B, -1) if needs[2] else None
    dw_hh = flat_h.T @ h_prev.reshape(T * B, -1) if needs[3] else None
    db_ih = flat_x.sum(axis=0) if needs[4] else None
    db_hh = flat_h.sum(axis=0) if needs[5] else None
    return dx, dh if needs[1] else None, dw_ih, dw_hh, db_ih, db_hh


def _rnn_kernels(cp: Any) -> tuple:
    step = {"tanh": cp.ElementwiseKernel("T hz", "T row", "row = tanh(row + hz);", "retrograd_rnn_tanh"),
            "relu": cp.ElementwiseKernel("T hz", "T row", "T v = row + hz; row = v > (T)0 ? v : (T)0;",
                                         "retrograd_rnn_relu")}
    back = {"tanh": cp.ElementwiseKernel("T dh, T g, T h", "T d", "T s = dh + g; d = s * ((T)1 - h * h);",
                                         "retrograd_rnn_tanh_back"),
            "relu": cp.ElementwiseKernel("T dh, T g, T h", "T d", "d = h > (T)0 ? dh + g : (T)0;",
                                         "retrograd_rnn_relu_back")}
    return step, back


def rnn_forward(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, reverse: bool = False,
                nonlinearity: str = "tanh") -> Any:
    """The reference's (T, B, H): one product and one fused add-and-activation per step."""
    step = kernel("rnn", _rnn_kernels)[0][nonlinearity]
    hs = ref._project(x, w_ih) + (b_ih + b_hh)
    h, w_hh_t = h0.astype(hs.dtype, copy=False), w_hh.T
    for t in ref._steps(x.shape[0], reverse):
        step(h @ w_hh_t, hs[t])
        h = hs[t]
    return hs


def rnn_vjp(m: Any, needs: Any, g: Any, out: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
            reverse: bool = False, nonlinearity: str = "tanh") -> tuple:
    """BPTT with one fused kernel and one product per step; the reference's products after."""
    cp = cupy_module()
    back = kernel("rnn", _rnn_kernels)[1][nonlinearity]
    T, B, H = out.shape
    dpre = cp.empty_like(out)
    dh = cp.zeros((B, H), dtype=out.dtype)
    for t in reversed(ref._steps(T, reverse)):
        back(dh, g[t], out[t], dpre[t])
        dh = dpre[t] @ w_hh
    flat = dpre.reshape(T * B, H)
    dx = (flat @ w_ih).reshape(x.shape) if needs[0] else None
    dw_ih = flat.T @ x.reshape(T * B, -1) if needs[2] else None
    dw_hh = flat.T @ ref._previous(out, h0, reverse).reshape(T * B, -1) if needs[3] else None
    db = flat.sum(axis=0)
    return dx, dh if needs[1] else None, dw_ih, dw_hh, db if needs[4] else None, db if needs[5] else None


def _sequence_on_gpu(x: Any, *arrays: Any, **params: Any) -> bool:
    return all_on_gpu(x, *arrays) and len({a.dtype for a in (x, *arrays)}) == 1


def register() -> None:
    """Put the fused-step versions in front of the three sequence ops, for CuPy arrays of one float dtype."""
    if not available():
        return
    OPS["lstm_seq"].accelerate(forward=lstm_forward, vjp=lstm_vjp, when=_sequence_on_gpu)
    OPS["gru_seq"].accelerate(forward=gru_forward, vjp=gru_vjp, when=_sequence_on_gpu)
    OPS["rnn_seq"].accelerate(forward=rnn_forward, vjp=rnn_vjp, when=_sequence_on_gpu)
