"""ONNX import of RNN, LSTM and GRU: retrograd's fused sequence primitives where they apply, else per-step ops.

The fused primitives (``autograd/ops/recurrent.py``) are PyTorch's cells:
default activations, no peepholes, no clipping, the GRU's reset gate after the
hidden product (``linear_before_reset=1``), every sequence full length. The
ONNX weights stay Parameters in ONNX's layout; the gate blocks are reordered
on each call with differentiable slices (LSTM i,o,f,c -> i,f,g,o; GRU z,r,h ->
r,z,n), so training updates the file's own tensors. Any other configuration
(peepholes, ``linear_before_reset=0``, other activations, clip,
``input_forget``, shorter ``sequence_lens``) runs as a loop of per-step ops.
"""
from typing import Any, Callable, Optional

import numpy as np

from ...autograd import functions as F
from ...autograd.ops.registry import OPS as PRIMITIVES
from ...autograd.tensor import apply
from .import_util import data, unsupported

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_TO_TORCH = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2], "RNN": [0]}     # ONNX blocks in PyTorch's order
_DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
_TAKES_ALPHA = {"LeakyRelu": 0.01, "ThresholdedRelu": 1.0, "ScaledTanh": 1.0, "HardSigmoid": 0.2,
                "Elu": 1.0, "Affine": 1.0}
_BETA = {"ScaledTanh": 1.0, "HardSigmoid": 0.5, "Affine": 0.0}


def _activation(name: str, alpha: Optional[float], beta: Optional[float]) -> Callable[[Any], Any]:
    a = _TAKES_ALPHA.get(name) if alpha is None else alpha
    b = _BETA.get(name) if beta is None else beta
    table: dict = {
        "Sigmoid": F.sigmoid, "Tanh": F.tanh, "Relu": F.relu,
        "Softsign": lambda x: x / (F.abs(x) + 1.0), "Softplus": F.softplus,
        "LeakyRelu": lambda x: F.leaky_relu(x, a), "Elu": lambda x: F.elu(x, a),
        "ThresholdedRelu": lambda x: x * (data(x) > a).astype(data(x).dtype),
        "ScaledTanh": lambda x: F.tanh(x * b) * a, "HardSigmoid": lambda x: F.clip(x * a + b, 0.0, 1.0),
        "Affine": lambda x: x * a + b,
    }
    if name not in table:
        raise unsupported(f"recurrent activation {name!r}")
    return table[name]


def _activations(node: Any, mode: str, D: int) -> tuple:
    """(names, functions) per direction."""
    n = len(_DEFAULT_ACTS[mode])
    names = node.attr("activations")
    names = list(_DEFAULT_ACTS[mode]) * D if names is None else list(names)
    if len(names) == n and D == 2:
        names = names * 2
    if len(names) != n * D:
        raise unsupported(f"{len(names)} activations for {D} direction(s) of {node.where()}")
    alphas, betas = list(node.attr("activation_alpha", [])), list(node.attr("activation_beta", []))
    fns = []
    for name in names:
        alpha = alphas.pop(0) if name in _TAKES_ALPHA and alphas else None
        beta = betas.pop(0) if name in _BETA and betas else None
        fns.append(_activation(name, alpha, beta))
    return [names[d * n:(d + 1) * n] for d in range(D)], [fns[d * n:(d + 1) * n] for d in range(D)]


def _blocks(w: Any, mode: str, H: int, order: list) -> Any:
    return F.concatenate([F.getitem(w, slice(k * H, (k + 1) * H)) for k in order], axis=0)


def _recurrent(mode: str) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        args = list(args) + [None] * (8 - len(args))
        x, W, R, B, lens, h_init, c_init = args[:7]
        P = args[7] if mode == "LSTM" else None
        if mode != "LSTM":
            h_init, c_init = args[5], None
        H = int(node.attr("hidden_size", data(R).shape[-1]))
        direction = node.attr("direction", "forward")
        D = 2 if direction == "bidirectional" else 1
        layout = int(node.attr("layout", 0))
        if layout:                                  # (B, T, I) -> (T, B, I); states (B, D, H) -> (D, B, H)
            x = F.transpose(x, (1, 0, 2))
            h_init = F.transpose(h_init, (1, 0, 2)) if h_init is not None else None
            c_init = F.transpose(c_init, (1, 0, 2)) if c_init is not None else None
        T, batch = data(x).shape[:2]
        dtype = data(x).dtype
        names, acts = _activations(node, mode, D)
        lengths = None if lens is None else data(lens).astype(np.int64)
        if lengths is not None and np.all(lengths == T):
            lengths = None
        seqs, hs, cs = [], [], []
        for d in range(D):
            reverse = direction == "reverse" or d == 1
            G = _GATES[mode] * H
            w, r = F.getitem(W, d), F.getitem(R, d)
            zeros = np.zeros(G, dtype)
            wb = F.getitem(B, (d, slice(0, G))) if B is not None else zeros
            rb = F.getitem(B, (d, slice(G, 2 * G))) if B is not None else zeros
            h0 = F.getitem(h_init, d) if h_init is not None else np.zeros((batch, H), dtype)
            c0 = F.getitem(c_init, d) if c_init is not None else np.zeros((batch, H), dtype)
            p = F.getitem(P, d) if P is not None else None
            fused = (names[d] == _DEFAULT_ACTS[mode] or (mode == "RNN" and names[d] == ["Relu"])) \
                and node.attr("clip") is None and not node.attr("input_forget", 0) and p is None \
                and lengths is None and (mode != "GRU" or node.attr("linear_before_reset", 0))
            if fused:
                seq, h, c = _fused(mode, x, h0, c0, w, r, wb, rb, H, reverse, names[d])
            else:
                seq, h, c = _stepwise(node, mode, x, h0, c0, w, r, wb, rb, p, H, reverse, acts[d], lengths)
            seqs.append(seq)
            hs.append(h)
            cs.append(c)
        y = F.stack(seqs, axis=1)                                         # (T, D, B, H)
        y_h, y_c = F.stack(hs, axis=0), (F.stack(cs, axis=0) if mode == "LSTM" else None)
        if layout:
            y = F.transpose(y, (2, 0, 1, 3))
            y_h = F.transpose(y_h, (1, 0, 2))
            y_c = F.transpose(y_c, (1, 0, 2)) if y_c is not None else None
        return [y, y_h] + ([y_c] if mode == "LSTM" else [])
    return op


def _fused(mode: str, x: Any, h0: Any, c0: Any, w: Any, r: Any, wb: Any, rb: Any, H: int, reverse: bool,
           names: list) -> tuple:
    """One direction through retrograd's sequence primitive; returns (h sequence (T,B,H), h_T, c_T)."""
    order = _TO_TORCH[mode]
    params = [_blocks(w, mode, H, order), _blocks(r, mode, H, order),
              _blocks(wb, mode, H, order), _blocks(rb, mode, H, order)]
    last = 0 if reverse else -1
    if mode == "LSTM":
        out = apply(PRIMITIVES["lstm_seq"], x, h0, c0, *params, reverse=reverse)        # (2, T, B, H)
        return out[0], out[0, last], out[1, last]
    if mode == "GRU":
        out = apply(PRIMITIVES["gru_seq"], x, h0, *params, reverse=reverse)            # (T, B, H)
        return out, out[last], None
    out = apply(PRIMITIVES["rnn_seq"], x, h0, *params, reverse=reverse,
                nonlinearity="relu" if names == ["Relu"] else "tanh")
    return out, out[last], None


def _stepwise(node: Any, mode: str, x: Any, h: Any, c: Any, w: Any, r: Any, wb: Any, rb: Any, p: Any, H: int,
              reverse: bool, acts: list, lengths: Optional[np.ndarray]) -> tuple:
    """One direction as recorded per-step ops, for the configurations the primitives do not cover."""
    T, batch = data(x).shape[:2]
    dtype = data(x).dtype
    clip = node.attr("clip")
    bound: Callable[[Any], Any] = (lambda v: F.clip(v, -clip, clip)) if clip is not None else (lambda v: v)
    xw = F.matmul(x, F.transpose(w)) + wb                                  # (T, B, G*H), ONNX gate order
    rt = F.transpose(r)
    outs: list = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        g = F.getitem(xw, t)
        if mode == "RNN":
            h_new, c_new = acts[0](bound(g + F.matmul(h, rt) + rb)), None
        elif mode == "LSTM":
            hr = F.matmul(h, rt) + rb
            part = [F.getitem(g, (slice(None), slice(k * H, (k + 1) * H))) +
                    F.getitem(hr, (slice(None), slice(k * H, (k + 1) * H))) for k in range(4)]
            pi, po, pf = ((F.getitem(p, slice(k * H, (k + 1) * H)) for k in range(3)) if p is not None
                          else (None, None, None))
            i = acts[0](bound(part[0] + c * pi if pi is not None else part[0]))
            f = 1.0 - i if node.attr("input_forget", 0) else \
                acts[0](bound(part[2] + c * pf if pf is not None else part[2]))
            c_new = f * c + i * acts[1](bound(part[3]))
            o = acts[0](bound(part[1] + c_new * po if po is not None else part[1]))
            h_new = o * acts[2](c_new)
        else:
            gz, gr, gh = (F.getitem(g, (slice(None), slice(k * H, (k + 1) * H))) for k in range(3))
            rz, rr, rh = (F.getitem(r, slice(k * H, (k + 1) * H)) for k in range(3))
            bz, br, bh = (F.getitem(rb, slice(k * H, (k + 1) * H)) for k in range(3))
            z = acts[0](bound(gz + F.matmul(h, F.transpose(rz)) + bz))
            re = acts[0](bound(gr + F.matmul(h, F.transpose(rr)) + br))
            if node.attr("linear_before_reset", 0):
                cand = acts[1](bound(gh + re * (F.matmul(h, F.transpose(rh)) + bh)))
            else:
                cand = acts[1](bound(gh + F.matmul(re * h, F.transpose(rh)) + bh))
            h_new, c_new = (1.0 - z) * cand + z * h, None
        if lengths is not None:                       # finished sequences keep their state and output zeros
            live = (t < lengths).astype(dtype)[:, None]
            outs[t] = h_new * live
            h = h_new * live + h * (1.0 - live)
            c = c_new * live + c * (1.0 - live) if c_new is not None else c
        else:
            outs[t], h, c = h_new, h_new, c_new
    return F.stack(outs, axis=0), h, c


RNN_OPS: dict = {"RNN": _recurrent("RNN"), "LSTM": _recurrent("LSTM"), "GRU": _recurrent("GRU")}
