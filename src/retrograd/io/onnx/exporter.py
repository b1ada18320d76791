"""``rg.onnx.export``: a retrograd module (plus optional input scaling and output softmax) as an ONNX file.

The model runs in eval mode (Dropout off, BatchNorm on its running
statistics) and is written in float32. The input's batch axis (and, for a
model that starts with a recurrent layer, the time axis) is symbolic; which
output axes follow them is found by running the model on the example and on
the example grown by one along each such axis.
"""
import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from ...nn import containers as C
from ...nn import layers, norm, recurrent
from ...nn import activations as A
from ...nn.module import Module
from .convert_activations import write_activation
from .errors import OnnxExportError
from .graph import GraphBuilder, Value, run_module

DEFAULT_OPSET = 17        # LayerNormalization arrived in 17; onnxruntime has run 17 since 1.11 (2022)
MIN_OPSET = 13            # Softmax over one axis, Squeeze/Unsqueeze/Split axes as inputs
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")
_SHAPE_KEEPING = (A._Activation, C.Identity, layers.Dropout, norm.LayerNorm, norm._BatchNorm,
                  layers.Embedding, layers.Linear)


def export(model: Module, path: Union[str, os.PathLike], example_input: Any = None,
           opset: Optional[int] = None, *, output: Optional[str] = None, scaler: Any = None,
           input_name: str = "input", output_names: Optional[Sequence[str]] = None,
           dynamic_axes: Optional[dict] = None, output_affine: Optional[tuple] = None,
           metadata: Optional[dict] = None) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ``onnx.ModelProto``.

    - ``example_input``: an array with the input's shape (any batch size); not
      needed when the first layer tells it (Linear, LayerNorm, BatchNorm1d, a
      recurrent layer). Integer arrays feed an Embedding.
    - ``opset``: default 17; anything from 13 to the installed onnx's newest.
    - ``output``: ``"softmax"``, ``"log_softmax"`` or ``"sigmoid"`` appended to
      the (first) output, e.g. for probabilities from a classifier's logits.
    - ``scaler``: a fitted ``rg.data.Standardizer`` or ``MinMaxScaler``; the
      graph then takes raw features and scales them itself.
    - ``dynamic_axes``: ``{axis: name}`` of the input's symbolic axes; default
      ``{0: "batch"}``, or batch and ``"sequence"`` for a recurrent first layer.
    - ``output_affine``: ``(scale, shift)``, arrays broadcast against the
      (first) output, applied as ``output * scale + shift`` after ``output``:
      e.g. a regression trained on standardised targets, back in the data's units.
    - ``metadata``: str -> str pairs stored in the file's metadata_props.

    A layer without a converter is refused with its path in the module tree
    and its type; ``rg.onnx.register_converter`` adds converters.
    """
    if not isinstance(model, Module):
        raise TypeError(f"rg.onnx.export: model must be a retrograd.nn.Module, got {type(model).__name__}")
    opset = _check_opset(opset)
    if output is not None and output not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"rg.onnx.export: output must be one of {OUTPUT_ACTIVATIONS} or None, got {output!r}")
    example = _example(model, example_input)
    axes = _input_axes(model, example, dynamic_axes)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        proto = _build(model, example, opset, output, scaler, input_name, output_names, axes,
                       output_affine, metadata)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    _check(proto)
    from ..atomic import atomic_write
    data = proto.SerializeToString()
    with atomic_write(path) as handle:
        handle.write(data)
    return proto


# ---------------------------------------------------------------------------- arguments
def _check_opset(opset: Optional[int]) -> int:
    from .errors import require_onnx
    newest = int(require_onnx().defs.onnx_opset_version())
    if opset is None:
        return DEFAULT_OPSET
    if not MIN_OPSET <= int(opset) <= newest:
        raise ValueError(f"rg.onnx.export: opset {opset} is not supported; use {MIN_OPSET} to {newest} "
                         f"(the installed onnx's newest)")
    return int(opset)


def _leaves(module: Module) -> list:
    """The leaf modules in the order a Sequential/Residual tree applies them (the Residual's body first)."""
    if type(module) is C.Sequential:
        return [leaf for child in module for leaf in _leaves(child)]
    if type(module) is C.Residual:
        return _leaves(module.body)
    return [module]


def _example(model: Module, example_input: Any) -> np.ndarray:
    """The example as an array (float32, or int64 for indices), or a default one from the first layer."""
    if example_input is not None:
        arr = example_input.data if hasattr(example_input, "data") and not isinstance(example_input, np.ndarray) \
            else np.asarray(example_input)
        if arr.dtype.kind in "iu":
            return arr.astype(np.int64)
        if arr.dtype.kind not in "f":
            raise TypeError(f"rg.onnx.export: example_input must hold numbers, got dtype {arr.dtype}")
        return arr.astype(np.float32)
    rng = np.random.default_rng(0)
    for leaf in _leaves(model):
        if isinstance(leaf, (A._Activation, C.Identity, layers.Dropout)):
            continue
        if isinstance(leaf, layers.Linear):
            return rng.standard_normal((2, leaf.in_features)).astype(np.float32)
        if isinstance(leaf, norm.LayerNorm):
            return rng.standard_normal((2,) + leaf.normalized_shape).astype(np.float32)
        if type(leaf) is norm.BatchNorm1d:
            return rng.standard_normal((2, leaf.num_features)).astype(np.float32)
        if isinstance(leaf, recurrent._RNNBase):
            shape = (2, 3, leaf.input_size) if leaf.batch_first else (3, 2, leaf.input_size)
            return rng.standard_normal(shape).astype(np.float32)
        break
    raise ValueError(f"rg.onnx.export: pass example_input (an array with the input's shape, any batch size): "
                     f"the input's shape cannot be read off {type(model).__name__}'s first layer")


def _input_axes(model: Module, example: np.ndarray, dynamic_axes: Optional[dict]) -> dict:
    """{axis: symbolic name} for the graph input."""
    if dynamic_axes is not None:
        axes = {int(a) % max(example.ndim, 1): str(n) for a, n in dict(dynamic_axes).items()}
        bad = [a for a in dynamic_axes if not -example.ndim <= int(a) < example.ndim]
        if bad:
            raise ValueError(f"rg.onnx.export: dynamic_axes {bad} out of range for an input of shape {example.shape}")
        return axes
    for leaf in _leaves(model):
        if isinstance(leaf, recurrent._RNNBase):
            b = 0 if leaf.batch_first else 1
            return {b: "batch", 1 - b: "sequence"} if example.ndim >= 2 else {0: "batch"}
        if not isinstance(leaf, _SHAPE_KEEPING):
            break
    return {0: "batch"} if example.ndim >= 1 else {}


# ---------------------------------------------------------------------------- the graph
def _scaled(scaler: Any, raw: np.ndarray) -> np.ndarray:
    return raw if scaler is None else np.asarray(scaler.transform(raw), dtype=np.float32)


def _build(model: Module, example: np.ndarray, opset: int, output: Optional[str], scaler: Any,
           input_name: str, output_names: Optional[Sequence[str]], axes: dict, output_affine: Optional[tuple],
           metadata: Optional[dict]) -> Any:
    ctx = GraphBuilder(opset)
    onnx = ctx.onnx
    for name in [input_name] + list(output_names or ["output"] + [f"output_{k}" for k in range(1, 16)]):
        ctx.reserve(name)
    x = Value(input_name, example)
    if scaler is not None:
        x = Value(_preprocess(ctx, scaler, input_name), _scaled(scaler, example))
    outs = ctx.convert(model, [x], "")
    if output is not None:
        outs[0] = Value(write_activation(ctx, output, outs[0].name, "output_activation"), outs[0].example)
    if output_affine is not None:
        scale, shift = (np.asarray(a, dtype=np.float32) for a in output_affine)
        scaled = ctx.node("Mul", [outs[0].name, ctx.const(scale, "output_affine.scale")], "output_affine")
        outs[0] = Value(ctx.node("Add", [scaled, ctx.const(shift, "output_affine.shift")], "output_affine"),
                        np.asarray(outs[0].example * scale + shift, dtype=np.float32))
    names = list(output_names) if output_names is not None else \
        ["output"] + [f"output_{k}" for k in range(1, len(outs))]
    if len(names) != len(outs):
        raise ValueError(f"rg.onnx.export: output_names has {len(names)} names, the model returns {len(outs)} tensors")
    out_axes = _output_axes(model, scaler, example, axes, [o.example.shape for o in outs], names)
    _name_outputs(ctx, [o.name for o in outs], names, input_name)
    elem = {np.dtype(np.float32): onnx.TensorProto.FLOAT, np.dtype(np.int64): onnx.TensorProto.INT64}
    inp = onnx.helper.make_tensor_value_info(input_name, elem[example.dtype],
                                             [axes.get(i, s) for i, s in enumerate(example.shape)])
    graph_outs = [onnx.helper.make_tensor_value_info(
        n, onnx.TensorProto.FLOAT if o.example.dtype.kind == "f" else onnx.TensorProto.INT64,
        [ax.get(i, s) for i, s in enumerate(o.example.shape)]) for n, o, ax in zip(names, outs, out_axes)]
    graph = onnx.helper.make_graph(ctx.nodes, type(model).__name__, [inp], graph_outs, ctx.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="retrograd", producer_version=_version(),
                                   doc_string=_describe(scaler, output))
    proto.ir_version = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", opset)])
    meta = {"retrograd.preprocessing": type(scaler).__name__ if scaler is not None else "none",
            "retrograd.output_activation": output or "none",
            "retrograd.output_affine": "yes" if output_affine is not None else "none"}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    onnx.helper.set_model_props(proto, meta)
    return proto


def _preprocess(ctx: GraphBuilder, scaler: Any, x: str) -> str:
    """The scaler's transform as nodes: (x - mean) / std, or the min-max map."""
    kind = type(scaler).__name__
    state = scaler.state_dict()
    if kind == "Standardizer":
        centred = ctx.node("Sub", [x, ctx.const(state["mean"], "scaler.mean")], "scaler")
        return ctx.node("Div", [centred, ctx.const(state["std"], "scaler.std")], "scaler")
    if kind == "MinMaxScaler":
        lo, hi = (float(v) for v in state["feature_range"])
        centred = ctx.node("Sub", [x, ctx.const(state["data_min"], "scaler.data_min")], "scaler")
        unit = ctx.node("Div", [centred, ctx.const(state["data_range"], "scaler.data_range")], "scaler")
        return ctx.node("Add", [ctx.node("Mul", [unit, ctx.scalar(hi - lo, "scaler.span")], "scaler"),
                                ctx.scalar(lo, "scaler.low")], "scaler")
    raise TypeError(f"rg.onnx.export: scaler must be a fitted rg.data.Standardizer or MinMaxScaler, got {kind}")


def _output_axes(model: Module, scaler: Any, example: np.ndarray, axes: dict, shapes: list,
                 names: list) -> list:
    """For each output, {axis: symbolic name} of the axes that follow a symbolic input axis."""
    found: list = [dict() for _ in shapes]
    for axis, name in axes.items():
        grown = np.concatenate([example, example[(slice(None),) * axis + (slice(0, 1),)]], axis=axis)
        try:
            variant = run_module(model, [_scaled(scaler, grown)], "")
        except OnnxExportError:
            continue
        for k, (base, other) in enumerate(zip(shapes, variant)):
            for i, (a, b) in enumerate(zip(base, other.shape)):
                if a != b:
                    found[k][i] = name if i not in found[k] else f"{names[k]}_dim{i}"
    return found


def _name_outputs(ctx: GraphBuilder, current: list, wanted: list, input_name: str) -> None:
    """Give the graph's outputs their public names (renaming node outputs, or an Identity node)."""
    produced = {o for n in ctx.nodes for o in n.output}
    for k, (old, new) in enumerate(zip(current, wanted)):
        if old in produced and current.index(old) == k:
            for n in ctx.nodes:
                n.input[:] = [new if i == old else i for i in n.input]
                n.output[:] = [new if o == old else o for o in n.output]
            current = [new if c == old else c for c in current]
        else:                                   # the input itself, or an output returned twice
            ctx.nodes.append(ctx.onnx.helper.make_node("Identity", [current[k]], [new], name=ctx.fresh(f"{new}/Identity")))


def _describe(scaler: Any, output: Optional[str]) -> str:
    pre = "none (the input is what the network itself takes)" if scaler is None else \
        f"{type(scaler).__name__} fitted on the training data: raw features in"
    return f"Exported by retrograd. Input preprocessing: {pre}. Output activation: {output or 'none'}."


def _check(proto: Any) -> None:
    from .errors import require_onnx
    onnx = require_onnx()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:        # onnx raises ValidationError or InferenceError
        raise OnnxExportError(f"the exported graph fails onnx.checker (a converter bug, please report): "
                              f"{exc}") from exc


def _version() -> str:
    from ...version import __version__
    return __version__
