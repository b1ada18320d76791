"""ONNX converters for RNN, LSTM and GRU: one ONNX RNN/LSTM/GRU node per layer, gate blocks reordered.

retrograd keeps PyTorch's layouts: gates (i, f, g, o) for the LSTM and (r, z,
n) for the GRU, with the GRU's reset gate applied after the hidden product.
ONNX orders them (i, o, f, c) and (z, r, h), and ``linear_before_reset=1``
selects PyTorch's GRU. ONNX's bias is ``[W_b, R_b]`` per direction, and its
output Y is (T, directions, B, H); the next layer wants (T, B, directions*H).
The module's default call (no initial state) starts from zeros, which is
ONNX's default too, and returns ``output, h_n`` (``output, (h_n, c_n)`` for
the LSTM): those become the node's outputs.
"""
from typing import Any

import numpy as np

from ... import nn
from .graph import GraphBuilder
from .registry import register_converter

# position in retrograd's (PyTorch's) gate blocks of each ONNX gate block, in ONNX order
_ONNX_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _blocks(a: np.ndarray, mode: str) -> np.ndarray:
    """Reorder the gate blocks (first axis) of a weight or bias from PyTorch's order to ONNX's."""
    order = _ONNX_ORDER[mode]
    parts = np.split(np.asarray(a, dtype=np.float32), len(order), axis=0)
    return np.concatenate([parts[k] for k in order], axis=0)


def _layer_weights(module: Any, layer: int) -> tuple:
    """(W, R, B or None) of one layer, stacked over directions in ONNX's layout."""
    mode = module.mode
    ws, rs, bs = [], [], []
    for d in range(module.num_directions):
        names = module._names[layer * module.num_directions + d]
        ws.append(_blocks(getattr(module, names[0]).data, mode))
        rs.append(_blocks(getattr(module, names[1]).data, mode))
        if module.bias:
            bs.append(np.concatenate([_blocks(getattr(module, names[2]).data, mode),
                                      _blocks(getattr(module, names[3]).data, mode)]))
    return np.stack(ws), np.stack(rs), (np.stack(bs) if bs else None)


@register_converter(nn.RNN, nn.LSTM, nn.GRU)
def recurrent(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """One ONNX node per layer; returns [output, h_n] (+ [c_n] for the LSTM)."""
    (x,) = inputs
    mode, D, H = module.mode, module.num_directions, module.hidden_size
    seq = ctx.node("Transpose", [x.name], path, perm=[1, 0, 2]) if module.batch_first else x.name
    finals: list = [[], []]
    for layer in range(module.num_layers):
        lpath = f"{path}.l{layer}" if path else f"l{layer}"
        W, R, B = _layer_weights(module, layer)
        ins = [seq, ctx.const(W, f"{lpath}.W"), ctx.const(R, f"{lpath}.R")]
        if B is not None:
            ins.append(ctx.const(B, f"{lpath}.B"))
        attrs: dict = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
        if mode == "GRU":
            attrs["linear_before_reset"] = 1
        if mode == "RNN":
            attrs["activations"] = ["Relu" if module.nonlinearity == "relu" else "Tanh"] * D
        outs = ctx.node_outputs(mode, ins, lpath, 3 if mode == "LSTM" else 2, **attrs)
        y = outs[0]                                                    # (T, D, B, H)
        if D == 1:
            seq = ctx.squeeze(y, [1], lpath)
        else:
            seq = ctx.reshape(ctx.node("Transpose", [y], lpath, perm=[0, 2, 1, 3]), [0, 0, -1], lpath)
        finals[0].append(outs[1])
        if mode == "LSTM":
            finals[1].append(outs[2])
    output = ctx.node("Transpose", [seq], path, perm=[1, 0, 2]) if module.batch_first else seq
    states = [_concat(ctx, f, path) for f in finals if f]
    return [output] + states


def _concat(ctx: GraphBuilder, parts: list, path: str) -> str:
    """The layers' (D, B, H) final states as (layers*D, B, H), layer-major as PyTorch's h_n."""
    return parts[0] if len(parts) == 1 else ctx.node("Concat", parts, path, axis=0)
