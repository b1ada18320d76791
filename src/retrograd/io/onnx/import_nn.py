"""ONNX import: convolution, pooling and normalisation ops, on retrograd's conv/pool primitives."""
from typing import Any, Callable

import numpy as np

from ...autograd import functions as F
from ...autograd.ops.registry import OPS as PRIMITIVES
from ...autograd.tensor import apply
from ...nn import functional as NF
from .errors import OnnxLoadError
from .import_util import data, unsupported

_CONV = {1: NF.conv1d, 2: NF.conv2d}
_MAX = {1: NF.max_pool1d, 2: NF.max_pool2d}
_AVG = {1: NF.avg_pool1d, 2: NF.avg_pool2d}


def _pads(node: Any, shape: tuple, kernel: list, strides: list, dilations: list) -> list:
    """[(begin, end)] per spatial axis from ``pads`` or ``auto_pad``."""
    d = len(kernel)
    mode = node.attr("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        pads = list(node.attr("pads", [0] * (2 * d)))
        return [(pads[i], pads[i + d]) for i in range(d)]
    if mode == "VALID":
        return [(0, 0)] * d
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise unsupported(f"auto_pad={mode!r} of {node.where()}")
    out = []
    for size, k, s, dl in zip(shape, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * dl + 1 - size, 0)
        small, big = total // 2, total - total // 2
        out.append((small, big) if mode == "SAME_UPPER" else (big, small))
    return out


def _geometry(node: Any, x: Any, kernel: list) -> tuple:
    d = len(kernel)
    strides = list(node.attr("strides", [1] * d))
    dilations = list(node.attr("dilations", [1] * d))
    return strides, dilations, _pads(node, data(x).shape[2:], kernel, strides, dilations)


def _padded(x: Any, pads: list, value: float) -> Any:
    widths = [(0, 0), (0, 0)] + [tuple(p) for p in pads]
    return F.pad(x, widths, value=value)


def _conv(node: Any, args: list, opset: int) -> list:
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    d = data(x).ndim - 2
    if d < 1:
        raise unsupported(f"{node.where()} on an input without spatial axes")
    kernel = list(node.attr("kernel_shape", data(w).shape[2:]))
    strides, dilations, pads = _geometry(node, x, kernel)
    if all(p == q for p, q in pads):
        padding = [p for p, _ in pads]
    else:
        x, padding = _padded(x, pads, 0.0), [0] * d
    groups = int(node.attr("group", 1))
    if d in _CONV:
        return [_CONV[d](x, w, b, stride=strides, padding=padding, dilation=dilations, groups=groups)]
    # 3-D and up: the same primitive (it is written for any number of spatial axes)
    if data(x).shape[1] != data(w).shape[1] * groups:
        raise OnnxLoadError(f"input has {data(x).shape[1]} channels, weight {data(w).shape} with group={groups} "
                            f"expects {data(w).shape[1] * groups}")
    bias = b if b is not None else np.zeros(data(w).shape[0], data(w).dtype)
    return [apply(PRIMITIVES["conv"], x, w, bias, stride=tuple(strides), padding=tuple(padding),
                  dilation=tuple(dilations), groups=groups)]


def _pool_common(node: Any, x: Any) -> tuple:
    """(d, kernel, strides, dilations, pads, extra): ``extra`` is the end padding ceil_mode adds."""
    d = data(x).ndim - 2
    if d < 1:
        raise unsupported(f"{node.where()} on an input without spatial axes")
    kernel = list(node.attr("kernel_shape"))
    strides, dilations, pads = _geometry(node, x, kernel)
    extra = [0] * d
    if node.attr("ceil_mode", 0):
        for i, (size, k, s, dl, (b, e)) in enumerate(zip(data(x).shape[2:], kernel, strides, dilations, pads)):
            span = dl * (k - 1) + 1
            n_out = -(-(size + b + e - span) // s) + 1
            if (n_out - 1) * s >= size + b:          # a last window starting in the end padding is dropped
                n_out -= 1
            extra[i] = max((n_out - 1) * s + span - (size + b + e), 0)
    return d, kernel, strides, dilations, pads, extra


def _windows(x: Any, kernel: list, strides: list, dilations: list, pads: list, fill: float) -> Any:
    """Every window as (N, C, *out, prod(kernel)) via unfold: any rank, dilation, asymmetric pads."""
    d = len(kernel)
    if any(p or q for p, q in pads):
        x = _padded(x, pads, fill)
    cols = NF.unfold(x, kernel, strides, 0, dilations)                    # (N, *out, C, *kernel)
    lead = tuple(cols.shape[:2 + d])
    cols = F.reshape(cols, lead + (int(np.prod(kernel)),))
    return F.transpose(cols, (0, d + 1) + tuple(range(1, d + 1)) + (d + 2,))


def _simple(kernel: list, dilations: list, pads: list, extra: list, d: int) -> bool:
    """True when retrograd's own pooling primitive applies: 1-D/2-D, no dilation, symmetric small pads."""
    return d in (1, 2) and not any(extra) and all(v == 1 for v in dilations) and \
        all(p == q and 2 * p <= k for (p, q), k in zip(pads, kernel))


def _max_pool(node: Any, args: list, opset: int) -> list:
    x = args[0]
    if len(node.outputs) > 1 and node.outputs[1]:
        raise unsupported(f"the Indices output of {node.where()}")
    d, kernel, strides, dilations, pads, extra = _pool_common(node, x)
    if _simple(kernel, dilations, pads, extra, d):
        return [_MAX[d](x, kernel, strides, [p for p, _ in pads])]
    full = [(b, e + x_) for (b, e), x_ in zip(pads, extra)]
    return [F.max(_windows(x, kernel, strides, dilations, full, -np.inf), axis=-1)]


def _avg_pool(node: Any, args: list, opset: int) -> list:
    """Mean over each window's counted part: the input, plus the explicit pads with count_include_pad=1.

    The end padding that ceil_mode adds never counts (as in onnxruntime and PyTorch).
    """
    x = args[0]
    d, kernel, strides, dilations, pads, extra = _pool_common(node, x)
    include = bool(node.attr("count_include_pad", 0)) or not any(p or q for p, q in pads)
    if include and _simple(kernel, dilations, pads, extra, d):
        return [_AVG[d](x, kernel, strides, [p for p, _ in pads])]
    full = [(b, e + x_) for (b, e), x_ in zip(pads, extra)]
    y = F.mean(_windows(x, kernel, strides, dilations, full, 0.0), axis=-1)
    if include and not any(extra):
        return [y]
    counted = np.ones((1, 1) + data(x).shape[2:], dtype=data(x).dtype)
    if include:
        counted = np.pad(counted, [(0, 0), (0, 0)] + [tuple(p) for p in pads], constant_values=1)
        full = [(0, x_) for x_ in extra]
    share = F.mean(_windows(counted, kernel, strides, dilations, full, 0.0), axis=-1).data
    return [y * (1.0 / share).astype(data(x).dtype)]


def _global(kind: str) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        x = args[0]
        axes = tuple(range(2, data(x).ndim))
        return [(F.mean if kind == "avg" else F.max)(x, axis=axes, keepdims=True)]
    return op


def _channel(v: Any, ndim: int) -> Any:
    return F.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _batch_norm(node: Any, args: list, opset: int) -> list:
    x, scale, bias, mean, var = args[:5]
    n = data(x).ndim
    eps = float(node.attr("epsilon", 1e-5))
    if node.attr("training_mode", 0):
        # batch statistics (biased variance), and the updated running values as extra outputs
        axes = (0,) + tuple(range(2, n))
        bmean = F.mean(x, axis=axes, keepdims=True)
        centred = x - bmean
        bvar = F.mean(centred * centred, axis=axes, keepdims=True)
        y = centred * (1.0 / F.sqrt(bvar + eps)) * _channel(scale, n) + _channel(bias, n)
        mom = float(node.attr("momentum", 0.9))
        run_mean = data(mean) * mom + data(bmean).reshape(-1) * (1 - mom)
        run_var = data(var) * mom + data(bvar).reshape(-1) * (1 - mom)
        return [y, run_mean.astype(data(x).dtype), run_var.astype(data(x).dtype)]
    if any(o for o in node.outputs[1:]):
        raise unsupported(f"the running-statistics outputs of {node.where()} outside training mode")
    inv = 1.0 / F.sqrt(var + eps)
    y = (x - _channel(mean, n)) * _channel(inv * scale, n)
    return [y + _channel(bias, n)]


def _layer_norm(node: Any, args: list, opset: int) -> list:
    x, scale = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    n = data(x).ndim
    a = int(node.attr("axis", -1))
    a = a + n if a < 0 else a
    if not 0 <= a < n:
        raise OnnxLoadError(f"axis {node.attr('axis')} out of range for a {n}-D input")
    axes = tuple(range(a, n))
    mean = F.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    inv = 1.0 / F.sqrt(F.mean(centred * centred, axis=axes, keepdims=True) + float(node.attr("epsilon", 1e-5)))
    y = centred * inv * scale
    return [y + bias if bias is not None else y, mean, inv]


def _instance_norm(node: Any, args: list, opset: int) -> list:
    x, scale, bias = args
    n = data(x).ndim
    axes = tuple(range(2, n))
    centred = x - F.mean(x, axis=axes, keepdims=True)
    inv = 1.0 / F.sqrt(F.mean(centred * centred, axis=axes, keepdims=True) + float(node.attr("epsilon", 1e-5)))
    return [centred * inv * _channel(scale, n) + _channel(bias, n)]


NN_OPS: dict = {
    "Conv": _conv, "MaxPool": _max_pool, "AveragePool": _avg_pool,
    "GlobalAveragePool": _global("avg"), "GlobalMaxPool": _global("max"),
    "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm,
    "InstanceNormalization": _instance_norm,
}
NN_ATTRS: dict = {"MaxPool": {"storage_order": (0,)}, "BatchNormalization": {"spatial": (1,)}}
