"""``rg.onnx.load``: an ONNX file as a retrograd Module that interprets the graph with differentiable ops.

The module (:class:`OnnxModule`) holds the file's floating-point initializers
as Parameters (so ``rg.fit`` trains them further; BatchNormalization's running
mean and variance become buffers, scalars and integer tensors stay constants)
and runs the nodes in order through retrograd's functions. Values computed
from constants and shapes only (Shape -> Gather -> Concat -> Reshape chains)
are plain NumPy arrays, evaluated on each call, so a symbolic batch axis stays
symbolic.

Loading never executes code and never allocates more than the file holds: each
tensor's stored bytes must match its dims before it is read, external data is
refused, and ops that create tensors from shape values (ConstantOfShape,
Expand, Range, Tile) are capped at ``MAX_CREATED_ELEMENTS``.
"""
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from ...autograd.tensor import Tensor
from ...nn.module import Module, Parameter
from .errors import OnnxLoadError, require_onnx
from .import_table import OPS, UNSUPPORTED_ATTRS

# each element's bytes per ONNX data type code, and the typed field holding it when raw_data is empty
_NP_TYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
             9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
_FIELD = {1: "float_data", 2: "int32_data", 3: "int32_data", 4: "int32_data", 5: "int32_data", 6: "int32_data",
          7: "int64_data", 9: "int32_data", 10: "int32_data", 11: "double_data", 12: "uint64_data",
          13: "uint64_data"}
BN_STATS = {"BatchNormalization": (3, 4)}      # input slots holding running statistics: buffers, not Parameters


@dataclass
class Node:
    """One graph node, parsed: op type, name, input/output names, attributes as Python values."""
    op_type: str
    name: str
    inputs: list
    outputs: list
    attrs: dict
    fn: Callable[..., list]

    def attr(self, key: str, default: Any = None) -> Any:
        """Attribute ``key``, or ``default`` when the node does not set it."""
        return self.attrs.get(key, default)

    def where(self) -> str:
        """How messages name this node."""
        return f"node {self.name!r} ({self.op_type})" if self.name else f"a {self.op_type} node"


def tensor_to_array(t: Any, what: str, base_dir: Optional[str] = None) -> np.ndarray:
    """A TensorProto as an array, after checking that its stored data matches its dims.

    Data kept in an external file (PyTorch's dynamo exporter writes
    ``model.onnx.data``) is read only from a regular file inside ``base_dir``
    (the model's own directory), at most the bytes the dims need.
    """
    if t.HasField("segment"):
        raise OnnxLoadError(f"{what} is a segmented tensor, which retrograd does not read")
    if t.data_type not in _NP_TYPES:
        raise OnnxLoadError(f"{what} has ONNX data type {t.data_type}, which retrograd does not read "
                            f"(supported: float16/32/64, int8-64, uint8-64, bool)")
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise OnnxLoadError(f"{what} has negative dims {dims}")
    count = math.prod(dims)
    dtype = np.dtype(_NP_TYPES[t.data_type])
    external = t.data_location == 1 or len(t.external_data)
    raw = _external_bytes(t, what, base_dir, count * dtype.itemsize) if external else t.raw_data
    if raw:
        stored, wanted = len(raw), count * dtype.itemsize
        if stored != wanted:
            raise OnnxLoadError(f"{what}: dims {dims} need {wanted} bytes of {dtype}, the file stores {stored}")
        return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)
    values = getattr(t, _FIELD[t.data_type])
    if len(values) != count:
        raise OnnxLoadError(f"{what}: dims {dims} need {count} values, the file stores {len(values)}")
    if t.data_type == 10:                                 # float16 bits stored in int32_data
        return np.asarray(values, dtype=np.uint16).view(np.float16).reshape(dims)
    return np.asarray(values).astype(dtype).reshape(dims)


def _external_bytes(t: Any, what: str, base_dir: Optional[str], wanted: int) -> bytes:
    """The bytes of an externally stored tensor, from a regular file inside ``base_dir`` only."""
    info = {e.key: e.value for e in t.external_data}
    if base_dir is None:
        raise OnnxLoadError(f"{what} keeps its data in an external file; load the model from its path "
                            f"(not from bytes) so the file next to it can be found")
    location = info.get("location", "")
    target = os.path.realpath(os.path.join(base_dir, location))
    root = os.path.realpath(base_dir)
    if not location or os.path.isabs(location) or os.path.commonpath([root, target]) != root:
        raise OnnxLoadError(f"{what}: external data location {location!r} is not a file inside {base_dir}")
    if not os.path.isfile(target):
        raise OnnxLoadError(f"{what}: external data file {target} does not exist")
    try:
        offset = int(info.get("offset", 0))
        length = int(info.get("length", wanted))
    except ValueError:
        raise OnnxLoadError(f"{what}: external data offset/length are not integers: {info}") from None
    size = os.path.getsize(target)
    if length != wanted or offset < 0 or offset + length > size:
        raise OnnxLoadError(f"{what}: external data (offset {offset}, length {length}) does not hold the "
                            f"{wanted} bytes the dims need within {target} ({size} bytes)")
    with open(target, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def _parse_attrs(proto: Any, node_name: str, op_type: str) -> dict:
    onnx = require_onnx()
    attrs: dict = {}
    for a in proto.attribute:
        what = f"attribute {a.name!r} of node {node_name!r} ({op_type})"
        if a.ref_attr_name:
            raise OnnxLoadError(f"{what} refers to a function attribute; functions are not supported")
        if a.type == onnx.AttributeProto.TENSOR:
            attrs[a.name] = tensor_to_array(a.t, what)       # no external data inside attributes
        elif a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise OnnxLoadError(f"{what} is a subgraph; control flow (If, Loop, Scan) is not supported")
        elif a.type in (onnx.AttributeProto.SPARSE_TENSOR, onnx.AttributeProto.SPARSE_TENSORS,
                        onnx.AttributeProto.TENSORS, onnx.AttributeProto.TYPE_PROTO,
                        onnx.AttributeProto.TYPE_PROTOS):
            raise OnnxLoadError(f"{what} has a type retrograd does not read")
        else:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, list):
                value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
            attrs[a.name] = value
    return attrs


def _read(source: Union[str, os.PathLike, bytes, Any]) -> tuple:
    """(ModelProto, description, directory of the file or None) from a path, bytes or a ModelProto."""
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        return source, "the ONNX model", None
    if isinstance(source, (bytes, bytearray)):
        data, what = bytes(source), "the ONNX bytes"
    else:
        what = os.fspath(source)
        try:
            with open(what, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise OnnxLoadError(f"cannot read ONNX file {what}: {exc}") from None
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as exc:     # google.protobuf.message.DecodeError
        raise OnnxLoadError(f"{what} is not an ONNX model (protobuf parse failed: {exc})") from None
    if not proto.HasField("graph"):
        raise OnnxLoadError(f"{what} is not an ONNX model (no graph)")
    return proto, what, (os.path.dirname(os.path.abspath(what)) if not isinstance(source, (bytes, bytearray))
                         else None)


def load(source: Union[str, os.PathLike, bytes, Any], check: bool = True) -> "OnnxModule":
    """Read an ONNX model (path, bytes or ModelProto) as an :class:`OnnxModule`.

    ``check`` runs ``onnx.checker.check_model`` first. Unknown ops are refused
    with their type and node name, as are attribute values retrograd does not
    implement (e.g. MaxPool's ceil_mode=1).
    """
    onnx = require_onnx()
    proto, what, base_dir = _read(source)
    if check:
        try:                      # from the path, so that the checker finds external data files
            onnx.checker.check_model(what if base_dir is not None else proto)
        except Exception as exc:
            raise OnnxLoadError(f"{what} fails onnx.checker: {exc}") from None
    return OnnxModule(proto, what, base_dir)


def _opset(proto: Any, what: str) -> int:
    versions = {op.domain or "ai.onnx": op.version for op in proto.opset_import}
    if "ai.onnx" not in versions:
        raise OnnxLoadError(f"{what} does not import the default ONNX opset")
    return int(versions["ai.onnx"])


def _identifier(name: str, taken: set) -> str:
    ident = re.sub(r"\W", "_", name) or "t"
    if ident[0].isdigit():
        ident = "t_" + ident
    base, k = ident, 1
    while ident in taken:
        k += 1
        ident = f"{base}_{k}"
    taken.add(ident)
    return ident


class OnnxModule(Module):
    """A retrograd module running an ONNX graph; its float initializers are Parameters.

    ``forward(*inputs)`` takes the graph's inputs in order (arrays or tensors)
    and returns its output, or a tuple when the graph has several.
    ``onnx_names`` maps each parameter/buffer attribute to its initializer's
    name in the file.
    """

    opset: int
    source: str
    input_names: list
    output_names: list
    onnx_names: dict

    def __init__(self, proto: Any, what: str = "the ONNX model", base_dir: Optional[str] = None):
        super().__init__()
        graph = proto.graph
        self.opset = _opset(proto, what)
        self.source = what
        if len(graph.sparse_initializer):
            raise OnnxLoadError(f"{what}: sparse initializers are not supported")
        init_names = [t.name for t in graph.initializer]
        nodes = [self._parse_node(n, k, what) for k, n in enumerate(graph.node)]
        stats = {n.inputs[i] for n in nodes for i in BN_STATS.get(n.op_type, ()) if i < len(n.inputs)}
        taken: set = set()
        constants, params, onnx_names = {}, {}, {}
        for t in graph.initializer:
            arr = tensor_to_array(t, f"initializer {t.name!r}", base_dir)
            if arr.dtype.kind == "f" and arr.ndim >= 1:
                ident = _identifier(t.name, taken)
                if t.name in stats:
                    self.register_buffer(ident, Tensor(arr.copy()))
                else:
                    setattr(self, ident, Parameter(arr.copy()))
                params[t.name], onnx_names[ident] = ident, t.name
            else:
                constants[t.name] = arr
        # IR < 4 lists the initializers among the inputs too; they keep their stored values
        inputs = [(v.name, v.type.tensor_type.elem_type) for v in graph.input if v.name not in init_names]
        for v in list(graph.input) + list(graph.output):
            if v.name in init_names:
                continue
            if not v.type.HasField("tensor_type"):
                raise OnnxLoadError(f"{what}: graph input/output {v.name!r} is of type {v.type.WhichOneof('value')}; "
                                    f"retrograd imports tensors only (no sequences, maps or optionals)")
        self._nodes = nodes
        self._constants = constants
        self._param_attr = params
        self.onnx_names = onnx_names
        self.input_names = [n for n, _ in inputs]
        self._float_inputs = {n: np.dtype(_NP_TYPES[t]) for n, t in inputs if t in (1, 10, 11)}
        self.output_names = [v.name for v in graph.output]
        self._check_order(what)

    # ------------------------------------------------------------ loading
    def _parse_node(self, proto: Any, k: int, what: str) -> Node:
        name = proto.name or f"#{k}"
        if proto.domain not in ("", "ai.onnx"):
            raise OnnxLoadError(f"{what}: node {name!r} has op type {proto.op_type!r} from domain "
                                f"{proto.domain!r}; retrograd imports the default ONNX domain only")
        fn = OPS.get(proto.op_type)
        if fn is None:
            raise OnnxLoadError(f"{what}: node {name!r} has op type {proto.op_type!r}, which retrograd cannot "
                                f"import. Supported ops: {', '.join(sorted(OPS))}")
        node = Node(proto.op_type, name, list(proto.input), list(proto.output),
                    _parse_attrs(proto, name, proto.op_type), fn)
        for key, allowed in UNSUPPORTED_ATTRS.get(node.op_type, {}).items():
            if key in node.attrs and node.attrs[key] not in allowed:
                raise OnnxLoadError(f"{what}: {node.where()} sets {key}={node.attrs[key]!r}, which retrograd "
                                    f"does not implement (supported: {', '.join(map(repr, allowed))})")
        return node

    def _check_order(self, what: str) -> None:
        known = set(self.input_names) | set(self._constants) | set(self._param_attr)
        for node in self._nodes:
            for name in node.inputs:
                if name and name not in known:
                    raise OnnxLoadError(f"{what}: {node.where()} reads {name!r} before any node computes it "
                                        f"(the graph is not in topological order, or the value is missing)")
            known.update(o for o in node.outputs if o)
        missing = [o for o in self.output_names if o not in known]
        if missing:
            raise OnnxLoadError(f"{what}: graph outputs {missing} are computed by no node")

    # ------------------------------------------------------------ running
    def forward(self, *inputs: Any) -> Any:
        """Run the graph on ``inputs`` (one per graph input, in order)."""
        if len(inputs) != len(self.input_names):
            raise ValueError(f"this ONNX model takes {len(self.input_names)} inputs "
                             f"({', '.join(self.input_names)}), got {len(inputs)}")
        env: dict = dict(self._constants)
        float_type = next((p.dtype for p in self.parameters() if p.dtype.kind == "f"), None)
        for onnx_name, ident in self._param_attr.items():
            env[onnx_name] = getattr(self, ident)
        for name, value in zip(self.input_names, inputs):
            if not isinstance(value, Tensor):
                value = np.asarray(value)
                if name in self._float_inputs:      # float64 data into a float32 graph: the parameters' type
                    value = Tensor(value.astype(float_type or self._float_inputs[name], copy=False))
                elif value.dtype.kind == "f":
                    value = Tensor(value)
            env[name] = value
        for node in self._nodes:
            args = [env[n] if n else None for n in node.inputs]
            try:
                outs = node.fn(node, args, self.opset)
            except OnnxLoadError as exc:
                raise OnnxLoadError(f"{node.where()}: {exc}") from None
            except (ValueError, TypeError, IndexError, ArithmeticError) as exc:
                raise ValueError(f"running {node.where()} of {self.source}: {exc}") from exc
            if not any(isinstance(a, Tensor) for a in args):        # constants in, constants out
                outs = [o.data if isinstance(o, Tensor) else o for o in outs]
            for name, value in zip(node.outputs, outs):
                if name:
                    env[name] = value
        results = [env[n] for n in self.output_names]
        results = [r if isinstance(r, Tensor) else Tensor(np.asarray(r)) for r in results]
        return results[0] if len(results) == 1 else tuple(results)

    def extra_repr(self) -> str:
        """Size, opset and the graph's inputs and outputs."""
        return f"{len(self._nodes)} nodes, opset {self.opset}, inputs {self.input_names}, outputs {self.output_names}"
