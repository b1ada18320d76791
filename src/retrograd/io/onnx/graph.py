"""The graph under construction during export: nodes, initializers, unique names, opset-dependent forms.

``GraphBuilder.convert(module, inputs, path)`` looks up the module's converter
(``registry.py``), lets it add its nodes, and runs the module itself on the
example inputs, so every value in the graph carries a concrete example array:
converters read shapes from it instead of tracking them symbolically, and the
shapes never end up as constants that would pin the batch size (converters use
ONNX's ``0`` / ``-1`` reshape codes and shape-free ops for that).
"""
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ...autograd.tensor import Tensor
from .errors import OnnxExportError, require_onnx
from .registry import CONVERTERS, converter_for


@dataclass
class Value:
    """A tensor in the graph being built: its name and an example of its contents (shape, dtype)."""
    name: str
    example: np.ndarray

    @property
    def shape(self) -> tuple:
        """The example's shape (the batch axis has the example's batch size)."""
        return tuple(self.example.shape)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return int(self.example.ndim)


def where(path: str) -> str:
    """A module path for messages: ``'0.body'``, or ``'<model>'`` for the root."""
    return repr(path) if path else "<model>"


class GraphBuilder:
    """Collects the nodes and initializers of one exported graph (opset ``opset`` of the default domain)."""

    def __init__(self, opset: int):
        self.onnx = require_onnx()
        self.opset = int(opset)
        self.nodes: list = []
        self.initializers: list = []
        self._used: set = set()
        self._counts: dict = {}

    # ------------------------------------------------------------ names and tensors
    def fresh(self, hint: str) -> str:
        """A name not used yet in this graph, derived from ``hint``."""
        hint = hint or "v"
        name = hint
        while name in self._used:
            self._counts[hint] = self._counts.get(hint, 0) + 1
            name = f"{hint}_{self._counts[hint]}"
        self._used.add(name)
        return name

    def reserve(self, name: str) -> None:
        """Mark ``name`` as taken (graph inputs and outputs)."""
        self._used.add(name)

    def const(self, array: Any, hint: str, dtype: Optional[Any] = None) -> str:
        """An initializer holding ``array``; floating values are stored as float32, integers as int64."""
        arr = np.asarray(array)
        if dtype is None:
            dtype = np.float32 if arr.dtype.kind in "fc" else np.int64 if arr.dtype.kind in "iub" else arr.dtype
        arr = np.array(arr, dtype=dtype, order="C")          # (ascontiguousarray would make a scalar 1-D)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values: Sequence[int], hint: str) -> str:
        """A 1-D int64 initializer (shapes, axes, pads given as inputs)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint, np.int64)

    def scalar(self, value: float, hint: str) -> str:
        """A float32 scalar initializer."""
        return self.const(np.asarray(value, dtype=np.float32), hint, np.float32)

    def param(self, tensor: Any, name: str) -> str:
        """A parameter as a float32 initializer, named after its state-dict key where that is free."""
        data = tensor.data if isinstance(tensor, Tensor) else tensor
        return self.const(data, name, np.float32)

    def value(self, name: str, example: Any) -> Value:
        """A Value for a tensor a converter made itself, with an example of its contents."""
        return Value(name, np.asarray(example.data if isinstance(example, Tensor) else example))

    # ------------------------------------------------------------ nodes
    def node(self, op_type: str, inputs: Sequence[str], path: str, **attrs: Any) -> str:
        """Add one node with one output; returns the output's name.

        An input given as ``""`` is an omitted optional input. Attributes whose
        value is None are left out.
        """
        return self.node_outputs(op_type, inputs, path, 1, **attrs)[0]

    def node_outputs(self, op_type: str, inputs: Sequence[str], path: str, count: int, **attrs: Any) -> list:
        """Add one node with ``count`` outputs; returns their names."""
        base = f"{path}/{op_type}" if path else op_type
        outs = [self.fresh(f"{base}_out" if count == 1 else f"{base}_out{k}") for k in range(count)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outs, name=self.fresh(base),
                                                     **attrs))
        return outs

    # ------------------------------------------------------------ opset-dependent forms
    def reduce(self, op_type: str, x: str, axes: Sequence[int], path: str, keepdims: bool = True) -> str:
        """ReduceMean/ReduceSum/...: axes are an attribute before opset 18 (ReduceSum: 13), an input since."""
        since = 13 if op_type == "ReduceSum" else 18
        if self.opset >= since:
            return self.node(op_type, [x, self.ints(axes, f"{path}/axes")], path, keepdims=int(keepdims))
        return self.node(op_type, [x], path, axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x: str, axes: Sequence[int], path: str) -> str:
        """Unsqueeze with the axes as an input (opset 13 and later)."""
        return self.node("Unsqueeze", [x, self.ints(axes, f"{path}/axes")], path)

    def squeeze(self, x: str, axes: Sequence[int], path: str) -> str:
        """Squeeze with the axes as an input (opset 13 and later)."""
        return self.node("Squeeze", [x, self.ints(axes, f"{path}/axes")], path)

    def reshape(self, x: str, shape: Sequence[int], path: str) -> str:
        """Reshape to ``shape`` (0 copies the input's axis, -1 is inferred): keeps a symbolic batch axis."""
        return self.node("Reshape", [x, self.ints(shape, f"{path}/shape")], path)

    # ------------------------------------------------------------ modules
    def convert(self, module: Any, inputs: Sequence[Value], path: str) -> list:
        """Add the nodes of ``module`` applied to ``inputs``; returns its outputs as Values."""
        fn = converter_for(module)
        name = type(module).__name__
        if fn is None:
            known = sorted({c.__name__ for c in CONVERTERS})
            raise OnnxExportError(
                f"cannot export {name} at {where(path)} to ONNX: there is no converter for {name}. "
                f"Exportable layers: {', '.join(known)}. For your own module, write one and register it "
                f"with @rg.onnx.register_converter({name}) (see docs/onnx.md)")
        names = fn(self, module, list(inputs), path)      # children first: a failing layer names itself
        examples = run_module(module, [v.example for v in inputs], path)
        if len(names) != len(examples):
            raise OnnxExportError(f"the converter of {name} at {where(path)} gave {len(names)} outputs, "
                                  f"but the module returns {len(examples)}")
        return [Value(n, e) for n, e in zip(names, examples)]


def run_module(module: Any, examples: Sequence[np.ndarray], path: str) -> list:
    """``module(*examples)`` without a graph, its outputs flattened into a list of arrays."""
    from ...autograd.tensor import no_grad
    try:
        with no_grad():
            out = module(*[Tensor(e) if e.dtype.kind == "f" else e for e in examples])
    except Exception as exc:  # any failure of the layer on the example is the caller's input problem
        shapes = ", ".join(str(tuple(e.shape)) for e in examples)
        raise OnnxExportError(f"{type(module).__name__} at {where(path)} fails on the example input "
                              f"of shape {shapes}: {exc}") from exc
    return flatten_outputs(out, module, path)


def flatten_outputs(out: Any, module: Any, path: str) -> list:
    """Nested tuples/lists of tensors -> a flat list of arrays."""
    if isinstance(out, (tuple, list)):
        return [a for item in out for a in flatten_outputs(item, module, path)]
    if isinstance(out, Tensor):
        return [out.data]
    if isinstance(out, np.ndarray):
        return [out]
    raise OnnxExportError(f"{type(module).__name__} at {where(path)} returns a {type(out).__name__}; "
                          f"only tensors (or tuples of them) can be graph outputs")
