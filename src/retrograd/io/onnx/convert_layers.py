"""ONNX converters for the containers and the feed-forward layers (dense, conv, pooling, norms, embedding)."""
from typing import Any

import numpy as np

from ... import nn
from .errors import OnnxExportError
from .graph import GraphBuilder, Value, where
from .registry import register_converter


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _one(inputs: list, module: Any, path: str) -> Value:
    if len(inputs) != 1:
        raise OnnxExportError(f"{type(module).__name__} at {where(path)} takes one input, got {len(inputs)}")
    return inputs[0]


# ---------------------------------------------------------------------------- containers
@register_converter(nn.Sequential)
def sequential(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Each child on the previous child's outputs."""
    values = inputs
    children = list(module.named_children())
    for k, (name, child) in enumerate(children):
        if len(values) != 1 and k > 0:
            prev = children[k - 1]
            raise OnnxExportError(
                f"{type(prev[1]).__name__} at {where(_child(path, prev[0]))} returns {len(values)} tensors "
                f"(e.g. a recurrent layer's output and state), and the Sequential hands all of them to "
                f"{type(child).__name__} at {where(_child(path, name))}; such a model does not run in "
                f"retrograd either. Wrap the recurrent layer in a module that picks its output")
        values = ctx.convert(child, values, _child(path, name))
    return [v.name for v in values]


@register_converter(nn.Identity)
def identity(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """No node: the input is the output."""
    return [_one(inputs, module, path).name]


@register_converter(nn.Residual)
def residual(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Add(body(x), shortcut(x))."""
    x = _one(inputs, module, path)
    (body,) = ctx.convert(module.body, [x], _child(path, "body"))
    (short,) = ctx.convert(module.shortcut, [x], _child(path, "shortcut"))
    return [ctx.node("Add", [body.name, short.name], path)]


# ---------------------------------------------------------------------------- dense and shape layers
@register_converter(nn.Linear)
def linear(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Gemm(x, W, b) for a matrix input (W is (in, out), so no transpose); MatMul + Add otherwise."""
    x = _one(inputs, module, path)
    w = ctx.param(module.weight, _child(path, "weight"))
    b = ctx.param(module.bias, _child(path, "bias")) if module.bias is not None else None
    if x.ndim == 2:
        return [ctx.node("Gemm", [x.name, w] + ([b] if b else []), path)]
    y = ctx.node("MatMul", [x.name, w], path)
    return [ctx.node("Add", [y, b], path) if b else y]


@register_converter(nn.Flatten)
def flatten(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Flatten(axis=1) for the usual all-but-batch case, else a Reshape with 0 (keep) and -1 codes."""
    x = _one(inputs, module, path)
    n = x.ndim
    if n == 0:
        return [ctx.reshape(x.name, [1], path)]
    s, e = module.start_axis % n, module.end_axis % n
    if s >= e:
        return [x.name]                                  # one axis or none: nothing to merge
    if s == 1 and e == n - 1:
        return [ctx.node("Flatten", [x.name], path, axis=1)]
    shape = [0] * s + [-1] + list(x.shape[e + 1:])
    return [ctx.reshape(x.name, shape, path)]


@register_converter(nn.Dropout)
def dropout(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Inference: the identity (inverted dropout scales only while training)."""
    return [_one(inputs, module, path).name]


@register_converter(nn.Embedding)
def embedding(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Gather(weight, indices) along axis 0."""
    x = _one(inputs, module, path)
    w = ctx.param(module.weight, _child(path, "weight"))
    return [ctx.node("Gather", [w, x.name], path, axis=0)]


# ---------------------------------------------------------------------------- convolution and pooling
def _pads(padding: tuple) -> list:
    return list(padding) + list(padding)


@register_converter(nn.Conv1d, nn.Conv2d)
def conv(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Conv with the same weight layout (out, in/groups, *kernel); symmetric pads."""
    x = _one(inputs, module, path)
    w = ctx.param(module.weight, _child(path, "weight"))
    ins = [x.name, w]
    if module.bias is not None:
        ins.append(ctx.param(module.bias, _child(path, "bias")))
    return [ctx.node("Conv", ins, path, kernel_shape=list(module.kernel_size), strides=list(module.stride),
                     pads=_pads(module.padding), dilations=list(module.dilation), group=module.groups)]


@register_converter(nn.MaxPool1d, nn.MaxPool2d)
def max_pool(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """MaxPool: padding counts as -inf in both."""
    x = _one(inputs, module, path)
    return [ctx.node("MaxPool", [x.name], path, kernel_shape=list(module.kernel_size),
                     strides=list(module.stride), pads=_pads(module.padding))]


@register_converter(nn.AvgPool1d, nn.AvgPool2d)
def avg_pool(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """AveragePool with count_include_pad=1 (padded zeros count, as in retrograd and PyTorch)."""
    x = _one(inputs, module, path)
    return [ctx.node("AveragePool", [x.name], path, kernel_shape=list(module.kernel_size),
                     strides=list(module.stride), pads=_pads(module.padding), count_include_pad=1)]


# ---------------------------------------------------------------------------- normalisation
@register_converter(nn.BatchNorm1d, nn.BatchNorm2d)
def batch_norm(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """Inference BatchNormalization with the running statistics.

    Without running statistics retrograd normalises with the batch's own, even
    in eval mode; that is written out as ReduceMean nodes over batch and space.
    """
    x = _one(inputs, module, path)
    c = module.num_features
    scale = (ctx.param(module.weight, _child(path, "weight")) if module.affine
             else ctx.const(np.ones(c, np.float32), _child(path, "scale")))
    bias = (ctx.param(module.bias, _child(path, "bias")) if module.affine
            else ctx.const(np.zeros(c, np.float32), _child(path, "shift")))
    if module.track_running_stats:
        mean = ctx.param(module.running_mean, _child(path, "running_mean"))
        var = ctx.param(module.running_var, _child(path, "running_var"))
        return [ctx.node("BatchNormalization", [x.name, scale, bias, mean, var], path, epsilon=module.eps)]
    axes = [0] + list(range(2, x.ndim))
    shape = [1, c] + [1] * (x.ndim - 2)
    centred = ctx.node("Sub", [x.name, ctx.reduce("ReduceMean", x.name, axes, path)], path)
    var = ctx.reduce("ReduceMean", ctx.node("Mul", [centred, centred], path), axes, path)
    std = ctx.node("Sqrt", [ctx.node("Add", [var, ctx.scalar(module.eps, f"{path}/eps")], path)], path)
    y = ctx.node("Div", [centred, std], path)
    y = ctx.node("Mul", [y, ctx.reshape(scale, shape, path)], path)
    return [ctx.node("Add", [y, ctx.reshape(bias, shape, path)], path)]


@register_converter(nn.LayerNorm)
def layer_norm(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
    """LayerNormalization over the trailing axes (opset 17+), or the same as ReduceMean nodes before it."""
    x = _one(inputs, module, path)
    shape = module.normalized_shape
    k = len(shape)
    if module.weight is not None:
        scale = ctx.param(module.weight, _child(path, "weight"))
        bias = ctx.param(module.bias, _child(path, "bias"))
    else:
        scale, bias = ctx.const(np.ones(shape, np.float32), _child(path, "scale")), None
    if ctx.opset >= 17:
        return [ctx.node("LayerNormalization", [x.name, scale] + ([bias] if bias else []), path,
                         axis=-k, epsilon=module.eps)]
    axes = list(range(x.ndim - k, x.ndim))
    centred = ctx.node("Sub", [x.name, ctx.reduce("ReduceMean", x.name, axes, path)], path)
    var = ctx.reduce("ReduceMean", ctx.node("Mul", [centred, centred], path), axes, path)
    std = ctx.node("Sqrt", [ctx.node("Add", [var, ctx.scalar(module.eps, f"{path}/eps")], path)], path)
    y = ctx.node("Mul", [ctx.node("Div", [centred, std], path), scale], path)
    return [ctx.node("Add", [y, bias], path) if bias else y]
