"""ONNX import: shape and data-movement ops (Reshape, Slice, Gather, Concat, ...), constants and casts.

Shape subgraphs (Shape -> Gather -> Concat -> Reshape) run on NumPy arrays
computed from the actual input, so a symbolic batch axis stays symbolic.
"""
import math
from typing import Any

import numpy as np

from ...autograd import functions as F
from .errors import OnnxLoadError
from .import_util import axis, bounded, data, ints, is_tensor, scalar, unsupported

_ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
                9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def _reshape(node: Any, args: list, opset: int) -> list:
    x, shape = args[0], ints(args[1])
    dims = data(x).shape
    if not node.attr("allowzero", 0):
        shape = [dims[i] if s == 0 else s for i, s in enumerate(shape)]
    return [F.reshape(x, tuple(shape))]


def _flatten(node: Any, args: list, opset: int) -> list:
    x = args[0]
    shape = data(x).shape
    a = int(node.attr("axis", 1))
    a = a + len(shape) if a < 0 else a
    if not 0 <= a <= len(shape):
        raise OnnxLoadError(f"axis {node.attr('axis')} out of range for shape {shape}")
    return [F.reshape(x, (math.prod(shape[:a]), math.prod(shape[a:])))]


def _transpose(node: Any, args: list, opset: int) -> list:
    x = args[0]
    perm = node.attr("perm")
    return [F.transpose(x, tuple(perm)) if perm is not None else F.transpose(x)]


def _axes_input(node: Any, args: list, opset: int, since: int = 13) -> Any:
    if opset >= since:
        return ints(args[1]) if len(args) > 1 and args[1] is not None else None
    return node.attr("axes")


def _squeeze(node: Any, args: list, opset: int) -> list:
    x = args[0]
    shape = data(x).shape
    axes = _axes_input(node, args, opset)
    if axes is None:
        return [F.reshape(x, tuple(s for s in shape if s != 1))]
    axes = {axis(a, len(shape), node.where()) for a in axes}
    if any(shape[a] != 1 for a in axes):
        raise OnnxLoadError(f"cannot squeeze axes {sorted(axes)} of shape {shape}: not all have size 1")
    return [F.reshape(x, tuple(s for i, s in enumerate(shape) if i not in axes))]


def _unsqueeze(node: Any, args: list, opset: int) -> list:
    x = args[0]
    shape = list(data(x).shape)
    axes = _axes_input(node, args, opset) or []
    rank = len(shape) + len(axes)
    for a in sorted(axis(a, rank, node.where()) for a in axes):
        shape.insert(a, 1)
    return [F.reshape(x, tuple(shape))]


def _concat(node: Any, args: list, opset: int) -> list:
    parts = [a for a in args if a is not None]
    ax = axis(int(node.attr("axis")), data(parts[0]).ndim, node.where())
    if not any(is_tensor(p) for p in parts):
        return [np.concatenate([data(p) for p in parts], axis=ax)]
    return [F.concatenate(parts, axis=ax)]


def _split(node: Any, args: list, opset: int) -> list:
    x = args[0]
    shape = data(x).shape
    ax = axis(int(node.attr("axis", 0)), len(shape), node.where())
    n = len(node.outputs)
    sizes = (ints(args[1]) if len(args) > 1 and args[1] is not None else None) if opset >= 13 \
        else node.attr("split")
    if sizes is None:
        if node.attr("num_outputs") is not None:
            n = int(node.attr("num_outputs"))
        chunk = -(-shape[ax] // n)
        sizes = [min(chunk, shape[ax] - k * chunk) for k in range(n)]
    if sum(sizes) != shape[ax]:
        raise OnnxLoadError(f"split sizes {sizes} do not add up to {shape[ax]} along axis {ax}")
    outs, start = [], 0
    for s in sizes:
        outs.append(F.getitem(x, (slice(None),) * ax + (slice(start, start + s),)))
        start += s
    return outs


def _slice_bounds(start: int, end: int, step: int, dim: int) -> slice:
    """ONNX's clamping of (start, end, step) on an axis of size ``dim`` as a Python slice."""
    if step == 0:
        raise OnnxLoadError("Slice step must not be 0")
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        return slice(start, end, step)
    start, end = min(max(start, -1), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step) if start >= 0 else slice(0, 0, 1)


def _slice(node: Any, args: list, opset: int) -> list:
    x = args[0]
    shape = data(x).shape
    if opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes"), None
    else:
        starts, ends = ints(args[1]), ints(args[2])
        axes = ints(args[3]) if len(args) > 3 and args[3] is not None else None
        steps = ints(args[4]) if len(args) > 4 and args[4] is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * len(shape)
    for a, s, e, st in zip(axes, starts, ends, steps):
        a = axis(a, len(shape), node.where())
        index[a] = _slice_bounds(s, e, st, shape[a])
    return [F.getitem(x, tuple(index))]


def _gather(node: Any, args: list, opset: int) -> list:
    x, idx = args[0], data(args[1])
    if idx.dtype.kind not in "iu":
        raise OnnxLoadError(f"Gather indices must be integers, got {idx.dtype}")
    ax = axis(int(node.attr("axis", 0)), data(x).ndim, node.where())
    dim = data(x).shape[ax]
    if idx.size and (idx.min() < -dim or idx.max() >= dim):
        raise OnnxLoadError(f"Gather indices out of range [{-dim}, {dim}) along axis {ax}")
    index = (slice(None),) * ax + (idx.astype(np.int64),)
    return [F.getitem(x, index) if is_tensor(x) else data(x)[index]]


def _gather_elements(node: Any, args: list, opset: int) -> list:
    x, idx = args[0], data(args[1]).astype(np.int64)
    ax = axis(int(node.attr("axis", 0)), data(x).ndim, node.where())
    idx = np.where(idx < 0, idx + data(x).shape[ax], idx)
    if is_tensor(x):
        return [F.take_along_axis(x, idx, ax)]
    return [np.take_along_axis(data(x), idx, ax)]


def _shape(node: Any, args: list, opset: int) -> list:
    shape = data(args[0]).shape
    start, end = node.attr("start", 0), node.attr("end")
    return [np.array(shape[start:end], dtype=np.int64)]


def _expand(node: Any, args: list, opset: int) -> list:
    x = args[0]
    try:
        out = np.broadcast_shapes(data(x).shape, tuple(ints(args[1])))
    except ValueError:
        raise OnnxLoadError(f"cannot expand shape {data(x).shape} to {ints(args[1])}") from None
    bounded(out, "Expand")
    return [F.broadcast_to(x, out) if is_tensor(x) else np.broadcast_to(data(x), out).copy()]


def _constant_of_shape(node: Any, args: list, opset: int) -> list:
    shape = bounded(ints(args[0]), "ConstantOfShape")
    value = node.attr("value")
    value = np.zeros(1, np.float32) if value is None else value
    return [np.full(shape, value.reshape(-1)[0], dtype=value.dtype)]


def _constant(node: Any, args: list, opset: int) -> list:
    a = node.attrs
    if "value" in a:
        return [a["value"]]
    if "value_float" in a:
        return [np.array(a["value_float"], dtype=np.float32)]
    if "value_floats" in a:
        return [np.array(a["value_floats"], dtype=np.float32)]
    if "value_int" in a:
        return [np.array(a["value_int"], dtype=np.int64)]
    if "value_ints" in a:
        return [np.array(a["value_ints"], dtype=np.int64)]
    raise unsupported(f"a Constant with attributes {sorted(a)}")


def _cast_to(x: Any, dtype: np.dtype) -> Any:
    if is_tensor(x) and dtype.kind == "f":
        return x if x.dtype == dtype else F.astype(x, dtype)
    return data(x).astype(dtype)


def _cast(node: Any, args: list, opset: int) -> list:
    to = int(node.attr("to"))
    if to not in _ONNX_DTYPES:
        raise unsupported(f"Cast to ONNX data type {to}")
    return [_cast_to(args[0], np.dtype(_ONNX_DTYPES[to]))]


def _cast_like(node: Any, args: list, opset: int) -> list:
    dtype = data(args[1]).dtype
    if dtype not in {np.dtype(t) for t in _ONNX_DTYPES.values()}:
        raise unsupported(f"CastLike to {dtype}")
    return [_cast_to(args[0], dtype)]


def _range(node: Any, args: list, opset: int) -> list:
    start, limit, delta = (data(a) for a in args)
    if not delta.item():
        raise OnnxLoadError("Range delta must not be 0")
    count = max(int(np.ceil((limit.item() - start.item()) / delta.item())), 0)
    bounded((count,), "Range")
    return [(start + np.arange(count, dtype=start.dtype) * delta).astype(start.dtype)]


def _tile(node: Any, args: list, opset: int) -> list:
    x, reps = args[0], ints(args[1])
    shape = data(x).shape
    if len(reps) != len(shape):
        raise OnnxLoadError(f"Tile repeats {reps} must have one entry per axis of shape {shape}")
    bounded([r * s for r, s in zip(reps, shape)], "Tile")
    # (1, d0, 1, d1, ...) broadcast to (r0, d0, r1, d1, ...) and merged: differentiable through broadcast_to
    inter = tuple(v for s in shape for v in (1, s))
    wide = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    out = F.broadcast_to(F.reshape(x, inter), wide)
    return [F.reshape(out, tuple(r * s for r, s in zip(reps, shape)))]


def _pad(node: Any, args: list, opset: int) -> list:
    x = args[0]
    mode = node.attr("mode", "constant")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise unsupported(f"Pad mode {mode!r}")
    ndim = data(x).ndim
    if opset < 11:
        pads, value = node.attr("pads"), float(node.attr("value", 0.0))
        axes = list(range(ndim))
    else:
        pads = ints(args[1])
        given = scalar(args[2]) if len(args) > 2 and args[2] is not None else None
        value = 0.0 if given is None else given
        axes = ints(args[3]) if len(args) > 3 and args[3] is not None else list(range(ndim))
    axes = [axis(a, ndim, node.where()) for a in axes]
    signed = [(0, 0)] * ndim
    for k, a in enumerate(axes):
        signed[a] = (pads[k], pads[k + len(axes)])
    crop = tuple(slice(-b if b < 0 else 0, e if e < 0 else None) for b, e in signed)
    widths = [(max(b, 0), max(e, 0)) for b, e in signed]
    bounded([s + b + e for s, (b, e) in zip(data(x).shape, widths)], "Pad")
    if mode != "constant":
        y = _pad_by_index(x, widths, mode)
        return [F.getitem(y, crop) if is_tensor(y) else data(y)[crop]]
    if any(any(w) for w in widths):
        x = F.pad(x, widths, value=value) if is_tensor(x) else np.pad(data(x), widths, constant_values=value)
    return [F.getitem(x, crop) if is_tensor(x) else data(x)[crop]]


def _pad_by_index(x: Any, widths: list, mode: str) -> Any:
    """Edge/reflect/wrap padding as one gather per axis (so gradients flow back to the copied elements)."""
    for a, (b, e) in enumerate(widths):
        if not (b or e):
            continue
        n = data(x).shape[a]
        pos = np.arange(-b, n + e)
        if mode == "edge":
            idx = np.clip(pos, 0, n - 1)
        elif mode == "wrap":
            idx = pos % n
        else:
            if n == 1:
                idx = np.zeros_like(pos)
            else:
                period = 2 * (n - 1)
                idx = np.abs((pos + period * (abs(b) // period + 1)) % period)
                idx = np.where(idx >= n, period - idx, idx)
        index = (slice(None),) * a + (idx,)
        x = F.getitem(x, index) if is_tensor(x) else data(x)[index]
    return x


def _dropout(node: Any, args: list, opset: int) -> list:
    x = args[0]
    training = len(args) > 2 and args[2] is not None and bool(data(args[2]).item())
    ratio = scalar(args[1]) if len(args) > 1 and args[1] is not None else 0.5
    if training and ratio != 0.0:
        raise unsupported("Dropout with training_mode=true and a ratio above 0 (random masks)")
    return [x, np.ones(data(x).shape, dtype=bool)]


def _size(node: Any, args: list, opset: int) -> list:
    return [np.array(data(args[0]).size, dtype=np.int64)]


SHAPE_OPS: dict = {
    "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose, "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze, "Concat": _concat, "Split": _split, "Slice": _slice, "Gather": _gather,
    "GatherElements": _gather_elements, "Shape": _shape, "Size": _size, "Expand": _expand,
    "ConstantOfShape": _constant_of_shape, "Constant": _constant, "Cast": _cast, "CastLike": _cast_like,
    "Range": _range, "Tile": _tile, "Pad": _pad, "Dropout": _dropout,
}
