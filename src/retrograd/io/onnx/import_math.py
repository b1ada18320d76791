"""ONNX import: elementwise math, activations, comparisons, matrix products and reductions.

Each function takes (node, args, opset) and returns the list of outputs.
Floating-point values that are Tensors go through retrograd's differentiable
functions; comparisons, integer arithmetic and index outputs (ArgMax) are
plain NumPy, as they carry no gradient.
"""
from functools import reduce
from typing import Any, Callable

import numpy as np

from ...autograd import functions as F
from .import_util import axis, data, ints, is_tensor, scalar


def _unary(fn: Callable[[Any], Any]) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        return [fn(args[0])]
    return op


def _binary(tensor_fn: Callable, numpy_fn: Callable, keep_base_type: bool = False) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        a, b = args
        if keep_base_type and data(a).dtype.kind != "f":
            a, b = data(a), data(b)                   # Pow of an integer base: integer result, no gradient
        if is_tensor(a) or is_tensor(b):
            # constants take the tensor's dtype (Pow's exponent may be an integer tensor in ONNX)
            if not is_tensor(b):
                b = data(b).astype(a.dtype, copy=False)
            elif not is_tensor(a):
                a = data(a).astype(b.dtype, copy=False)
            return [tensor_fn(a, b)]
        out = numpy_fn(data(a), data(b))
        return [out.astype(data(a).dtype) if keep_base_type else out]
    return op


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (C semantics, as onnxruntime)."""
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        q = np.abs(a) // np.abs(b)
        return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))
    return np.divide(a, b)


def _variadic(tensor_fn: Callable, numpy_fn: Callable, mean: bool = False) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        if any(is_tensor(a) for a in args):
            out = reduce(tensor_fn, args)
        else:
            out = reduce(numpy_fn, [data(a) for a in args])
        return [out * (1.0 / len(args)) if mean else out]
    return op


def _compare(fn: Callable) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        return [fn(*[data(a) for a in args])]
    return op


def _no_grad(fn: Callable) -> Callable:
    """Ops whose derivative is zero almost everywhere: computed on the values, returned as constants."""
    def op(node: Any, args: list, opset: int) -> list:
        return [fn(data(args[0]))]
    return op


def _hard_sigmoid(node: Any, args: list, opset: int) -> list:
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    return [F.clip(args[0] * alpha + beta, 0.0, 1.0)]


def _selu(node: Any, args: list, opset: int) -> list:
    alpha = float(node.attr("alpha", 1.67326319217681884765625))
    gamma = float(node.attr("gamma", 1.05070102214813232421875))
    return [F.elu(args[0], alpha) * gamma]


def _prelu(node: Any, args: list, opset: int) -> list:
    x, slope = args
    return [F.where(data(x) < 0, x * slope, x + 0 * slope)]


def _thresholded_relu(node: Any, args: list, opset: int) -> list:
    x = args[0]
    return [x * (data(x) > float(node.attr("alpha", 1.0))).astype(data(x).dtype)]


def _clip(node: Any, args: list, opset: int) -> list:
    x = args[0]
    if opset < 11:
        lo, hi = node.attr("min"), node.attr("max")
    else:
        lo = scalar(args[1]) if len(args) > 1 else None
        hi = scalar(args[2]) if len(args) > 2 else None
    if lo is None and hi is None:
        return [x]
    if not is_tensor(x):
        return [np.clip(data(x), lo, hi)]
    return [F.clip(x, lo, hi)]


def _where(node: Any, args: list, opset: int) -> list:
    cond, x, y = args
    if is_tensor(x) or is_tensor(y):
        shape = np.broadcast_shapes(data(cond).shape, data(x).shape, data(y).shape)
        return [F.where(np.broadcast_to(data(cond), shape).astype(bool), x, y)]
    return [np.where(data(cond), data(x), data(y))]


def _matmul(node: Any, args: list, opset: int) -> list:
    a, b = args
    if is_tensor(a) or is_tensor(b):
        return [F.matmul(a, b)]
    return [np.matmul(data(a), data(b))]


def _gemm(node: Any, args: list, opset: int) -> list:
    a, b = args[0], args[1]
    c = args[2] if len(args) > 2 else None
    if node.attr("transA", 0):
        a = F.transpose(a)
    if node.attr("transB", 0):
        b = F.transpose(b)
    y = F.matmul(a, b)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    if alpha != 1.0:
        y = y * alpha
    if c is not None and beta != 0.0:
        y = y + (c * beta if beta != 1.0 else c)
    return [y]


# ---------------------------------------------------------------------------- reductions
def _axes_of(node: Any, args: list, opset: int, since: int) -> Any:
    if opset >= since:
        return ints(args[1]) if len(args) > 1 and args[1] is not None else None
    return node.attr("axes")


def _reduction(kind: str, since: int = 18) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        x = args[0]
        axes = _axes_of(node, args, opset, since)
        if not axes:
            if node.attr("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(data(x).ndim))
        axes = tuple(sorted({axis(a, data(x).ndim, node.where()) for a in axes}))
        keep = bool(node.attr("keepdims", 1))
        shape = data(x).shape
        if any(shape[a] == 0 for a in axes):          # an empty reduction: the operation's identity
            out = [1 if a in axes else s for a, s in enumerate(shape)] if keep else \
                [s for a, s in enumerate(shape) if a not in axes]
            fill = (kind == "min") if data(x).dtype == bool else _EMPTY[kind]
            return [np.full(out, fill, dtype=data(x).dtype)]
        if kind == "sum_square":
            return [F.sum(x * x, axis=axes, keepdims=keep)]
        if kind == "l1":
            return [F.sum(F.abs(x), axis=axes, keepdims=keep)]
        if kind == "l2":
            return [F.sqrt(F.sum(x * x, axis=axes, keepdims=keep))]
        if kind == "log_sum":
            return [F.log(F.sum(x, axis=axes, keepdims=keep))]
        if not is_tensor(x) and kind in _NUMPY_REDUCE:
            return [_NUMPY_REDUCE[kind](data(x), axis=axes, keepdims=keep)]
        return [getattr(F, kind)(x, axis=axes, keepdims=keep)]
    return op


_NUMPY_REDUCE: dict = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}
_EMPTY = {"sum": 0, "sum_square": 0, "l1": 0, "l2": 0, "prod": 1, "mean": np.nan, "max": -np.inf,
          "min": np.inf, "logsumexp": -np.inf, "log_sum": -np.inf}


def _arg(fn: Callable) -> Callable:
    def op(node: Any, args: list, opset: int) -> list:
        x = data(args[0])
        ax = axis(int(node.attr("axis", 0)), x.ndim, node.where())
        if node.attr("select_last_index", 0):
            flipped = np.flip(x, ax)
            out = x.shape[ax] - 1 - fn(flipped, axis=ax)
        else:
            out = fn(x, axis=ax)
        out = out.astype(np.int64)
        return [np.expand_dims(out, ax) if node.attr("keepdims", 1) else out]
    return op


def _softmax(kind: str) -> Callable:
    """Softmax/LogSoftmax over one axis (opset 13+), or over the flattened trailing axes before it."""
    def op(node: Any, args: list, opset: int) -> list:
        x = args[0]
        fn = F.softmax if kind == "softmax" else F.log_softmax
        shape = data(x).shape
        if opset >= 13:
            return [fn(x, axis(int(node.attr("axis", -1)), len(shape), node.where()))]
        ax = axis(int(node.attr("axis", 1)), len(shape), node.where())
        outer = int(np.prod(shape[:ax], dtype=np.int64))
        flat = F.reshape(x, (outer, int(np.prod(shape[ax:], dtype=np.int64))))
        return [F.reshape(fn(flat, 1), shape)]
    return op


MATH_OPS = {
    "Add": _binary(F.add, np.add), "Sub": _binary(F.sub, np.subtract), "Mul": _binary(F.mul, np.multiply),
    "Div": _binary(F.div, _int_div), "Pow": _binary(F.pow, np.power, keep_base_type=True),
    "Neg": _unary(F.neg), "Abs": _unary(F.abs), "Exp": _unary(F.exp), "Log": _unary(F.log),
    "Sqrt": _unary(F.sqrt), "Sin": _unary(F.sin), "Cos": _unary(F.cos), "Tanh": _unary(F.tanh),
    "Sigmoid": _unary(F.sigmoid), "Relu": _unary(F.relu), "Erf": _unary(F.erf),
    "Softplus": _unary(F.softplus), "Reciprocal": _unary(lambda x: 1.0 / x),
    "Softsign": _unary(lambda x: x / (F.abs(x) + 1.0)),
    "Mish": _unary(lambda x: x * F.tanh(F.softplus(x))),
    "HardSwish": _unary(lambda x: x * F.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)),
    "Identity": _unary(lambda x: x),
    "LeakyRelu": lambda node, args, opset: [F.leaky_relu(args[0], float(node.attr("alpha", 0.01)))],
    "Elu": lambda node, args, opset: [F.elu(args[0], float(node.attr("alpha", 1.0)))],
    "Celu": lambda node, args, opset: [F.elu(args[0] * (1.0 / float(node.attr("alpha", 1.0))))
                                       * float(node.attr("alpha", 1.0))],
    "Gelu": lambda node, args, opset: [F.gelu(args[0], node.attr("approximate", "none"))],
    "Selu": _selu, "HardSigmoid": _hard_sigmoid, "PRelu": _prelu, "ThresholdedRelu": _thresholded_relu,
    "Clip": _clip, "Where": _where,
    "Max": _variadic(F.maximum, np.maximum), "Min": _variadic(F.minimum, np.minimum),
    "Sum": _variadic(F.add, np.add), "Mean": _variadic(F.add, np.add, mean=True),
    "Equal": _compare(np.equal), "Less": _compare(np.less), "Greater": _compare(np.greater),
    "LessOrEqual": _compare(np.less_equal), "GreaterOrEqual": _compare(np.greater_equal),
    "Not": _compare(np.logical_not), "And": _compare(np.logical_and), "Or": _compare(np.logical_or),
    "Xor": _compare(np.logical_xor),
    "Floor": _no_grad(np.floor), "Ceil": _no_grad(np.ceil), "Round": _no_grad(np.round),
    "Sign": _no_grad(np.sign),
    "MatMul": _matmul, "Gemm": _gemm,
    "ReduceSum": _reduction("sum", 13), "ReduceMean": _reduction("mean"), "ReduceMax": _reduction("max"),
    "ReduceMin": _reduction("min"), "ReduceProd": _reduction("prod"),
    "ReduceLogSumExp": _reduction("logsumexp"), "ReduceSumSquare": _reduction("sum_square"),
    "ReduceL1": _reduction("l1"), "ReduceL2": _reduction("l2"), "ReduceLogSum": _reduction("log_sum"),
    "ArgMax": _arg(np.argmax), "ArgMin": _arg(np.argmin),
    "Softmax": _softmax("softmax"), "LogSoftmax": _softmax("log_softmax"),
}

MATH_ATTRS: dict = {}
