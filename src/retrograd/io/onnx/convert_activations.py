"""ONNX converters for every activation module, composed from ONNX ops where no single op matches."""
import math
from typing import Any, Callable

from ...nn import activations as A
from .graph import GraphBuilder
from .registry import register_converter


def _write(ctx: GraphBuilder, name: str, x: str, kw: dict, path: str) -> str:
    """The nodes of activation ``name`` (a key of nn.activations.ACTIVATIONS) on ``x``; returns the output."""
    node = ctx.node
    if name in _SINGLE:
        return node(_SINGLE[name], [x], path)
    if name == "leaky_relu":
        return node("LeakyRelu", [x], path, alpha=float(kw.get("negative_slope", 0.01)))
    if name == "elu":
        return node("Elu", [x], path, alpha=float(kw.get("alpha", 1.0)))
    if name == "selu":
        return node("Selu", [x], path, alpha=A._SELU_ALPHA, gamma=A._SELU_SCALE)
    if name == "gelu":
        return _gelu(ctx, x, kw.get("approximate", "none"), path)
    if name == "silu":                                   # x * sigmoid(x)
        return node("Mul", [x, node("Sigmoid", [x], path)], path)
    if name == "softplus":
        beta = float(kw.get("beta", 1.0))
        if beta == 1.0:
            return node("Softplus", [x], path)
        scaled = node("Mul", [x, ctx.scalar(beta, f"{path}/beta")], path)
        return node("Div", [node("Softplus", [scaled], path), ctx.scalar(beta, f"{path}/beta")], path)
    if name == "gaussian":                               # exp(-x^2)
        return node("Exp", [node("Neg", [node("Mul", [x, x], path)], path)], path)
    if name == "hard_sigmoid":                           # clip(x/6 + 1/2, 0, 1)
        return node("HardSigmoid", [x], path, alpha=1.0 / 6.0, beta=0.5)
    if name == "hard_tanh":
        lo, hi = float(kw.get("min_val", -1.0)), float(kw.get("max_val", 1.0))
        return node("Clip", [x, ctx.scalar(lo, f"{path}/min"), ctx.scalar(hi, f"{path}/max")], path)
    if name in ("softmax", "log_softmax"):
        return node("Softmax" if name == "softmax" else "LogSoftmax", [x], path, axis=int(kw.get("axis", -1)))
    raise KeyError(name)


_SINGLE = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign"}


def _gelu(ctx: GraphBuilder, x: str, approximate: str, path: str) -> str:
    """Gelu (opset 20+), else 0.5 x (1 + erf(x/sqrt 2)) or the tanh form."""
    node = ctx.node
    if ctx.opset >= 20:
        return node("Gelu", [x], path, approximate=approximate)
    if approximate == "tanh":                             # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = node("Mul", [node("Mul", [x, x], path), x], path)
        inner = node("Add", [x, node("Mul", [cube, ctx.scalar(0.044715, f"{path}/c")], path)], path)
        t = node("Tanh", [node("Mul", [inner, ctx.scalar(math.sqrt(2 / math.pi), f"{path}/k")], path)], path)
    else:
        t = node("Erf", [node("Mul", [x, ctx.scalar(1 / math.sqrt(2), f"{path}/k")], path)], path)
    one_plus = node("Add", [t, ctx.scalar(1.0, f"{path}/one")], path)
    return node("Mul", [node("Mul", [x, one_plus], path), ctx.scalar(0.5, f"{path}/half")], path)


def write_activation(ctx: GraphBuilder, name: str, x: str, path: str, **kw: Any) -> str:
    """Public form for other converters (the output softmax, a recurrent layer's own activations)."""
    return _write(ctx, name, x, kw, path)


def _converter(act_name: str) -> Callable[..., list]:
    def convert(ctx: GraphBuilder, module: Any, inputs: list, path: str) -> list:
        (x,) = inputs
        return [_write(ctx, act_name, x.name, dict(module.kw), path)]
    convert.__name__ = f"convert_{act_name}"
    convert.__doc__ = f"The ONNX nodes of the {act_name} activation."
    return convert


for _name, _cls in A.ACTIVATIONS.items():
    register_converter(_cls)(_converter(_name))
