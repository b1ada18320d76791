"""PyTorch state dicts to and from retrograd modules: the same names, Linear's weight transposed, every shape checked.

retrograd keeps PyTorch's parameter names and shapes everywhere (Conv, the
recurrent layers with their gate orders i,f,g,o and r,z,n, BatchNorm's
buffers, LayerNorm, Embedding; Sequential children named "0", "1", ...), with
one exception: ``Linear.weight`` is stored (in, out) so that ``y = x @ W + b``,
where ``torch.nn.Linear.weight`` is (out, in). So the conversion is a name
walk in state-dict order (torch's order too: each module's parameters, then
its buffers, then its children) that transposes the weights of Linear layers,
and checks every name and shape on the way so a model that is not the
equivalent one is refused at the first tensor that does not fit.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Tuple, Union

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor

if TYPE_CHECKING:                # module.py calls this file: importing it back would be a cycle
    from .module import Module


def transposed_params(module: Any) -> Dict[str, str]:
    """The parameters whose torch layout is the transpose of ours, with the layout torch documents (for
    the error messages): a layer declares them as ``torch_transposed`` (Linear's weight)."""
    return getattr(type(module), "torch_transposed", {})

StateLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]


class _Entry:
    """One tensor of the model: its name, the retrograd tensor, and whether torch stores its transpose."""
    __slots__ = ("name", "tensor", "module", "transposed")

    def __init__(self, name: str, tensor: Tensor, module: Module, transposed: bool):
        self.name, self.tensor, self.module, self.transposed = name, tensor, module, transposed

    @property
    def torch_shape(self) -> Tuple[int, ...]:
        shape = tuple(self.tensor.shape)
        return shape[::-1] if self.transposed else shape

    def describe(self) -> str:
        layout = ""
        if self.transposed:
            param = self.name.rsplit(".", 1)[-1]
            layout = f", torch's {type(self.module).__name__} layout " + transposed_params(self.module)[param]
        return f"{self.name!r} of shape {self.torch_shape} ({self.tensor.dtype}{layout})"


def _entries(model: Module) -> List[_Entry]:
    """The model's parameters and buffers in state-dict order, each with its torch layout."""
    out = []
    for prefix, m in model.named_modules():
        for table in (m._parameters, m._buffers):
            for name, t in table.items():
                if t is None:
                    continue
                transposed = name in transposed_params(m)
                out.append(_Entry(f"{prefix}.{name}" if prefix else name, t, m, transposed))
    return out


def torch_state_dict(model: Module) -> "OrderedDict[str, np.ndarray]":
    """The model's state as PyTorch's equivalent model names and lays it out: name -> NumPy array (a copy).

    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``
    loads it (strict); ``rg.io.save_tensors(sd, path)`` writes a file that
    ``safetensors.torch.load_file`` reads.
    """
    out: "OrderedDict[str, np.ndarray]" = OrderedDict()
    for e in _entries(model):
        arr = backend.to_host(e.tensor.data)          # torch's layout is a host copy, from any device
        out[e.name] = np.ascontiguousarray(arr.T) if e.transposed else arr.copy()
    return out


def _as_array(value: Any, name: str) -> np.ndarray:
    """A NumPy array from an array, a retrograd Tensor or a torch tensor (read via ``.numpy()``; torch is never imported)."""
    if isinstance(value, Tensor):
        return backend.to_host(value.data)
    if hasattr(value, "detach") and hasattr(value, "numpy"):        # a torch.Tensor
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        try:
            return value.numpy()
        except TypeError as exc:   # e.g. bfloat16, which NumPy has no dtype for
            raise TypeError(f"load_state_dict(layout='torch'): tensor {name!r} cannot be read as a NumPy "
                            f"array ({exc}); convert it first, e.g. t.float()") from None
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"load_state_dict(layout='torch'): tensor {name!r} is a {type(value).__name__}, "
                        "not an array or tensor")
    return arr


def read_torch_state(state: StateLike) -> "OrderedDict[str, np.ndarray]":
    """A state dict as name -> array: from a mapping, or from a safetensors file (read by retrograd.io, no pickle)."""
    if isinstance(state, (str, os.PathLike)):
        from ..io.safetensors_format import load_tensors     # the reader only: io's package gathers model files
        arrays, _ = load_tensors(state)
        return OrderedDict(arrays)
    if not isinstance(state, Mapping):
        raise TypeError("load_state_dict(layout='torch'): state must be a dict name -> tensor or the path of a "
                        f"safetensors file, got {type(state).__name__}")
    return OrderedDict((str(k), _as_array(v, str(k))) for k, v in state.items())


def _prefix_hint(names: List[str], expected: List[str]) -> str:
    """A hint when every torch name carries one extra prefix (``module.`` from DataParallel, ``_orig_mod.``)."""
    if not names or not expected:
        return ""
    head = names[0].split(".", 1)[0] + "."
    if all(n.startswith(head) for n in names) and names[0][len(head):] in expected:
        return (f"; every name starts with {head!r} (a wrapper such as DataParallel or torch.compile): "
                f"strip it, e.g. {{k[{len(head)}:]: v for k, v in state.items()}}")
    return ""


def load_torch_state(model: Module, state: StateLike, strict: bool = True) -> Tuple[List[str], List[str]]:
    """Copy a PyTorch state dict (or safetensors file) into ``model`` in place; returns (missing, unexpected).

    Every tensor is checked before anything is written: the first name the
    model does not have (or, with ``strict``, lacks) and the first shape or
    dtype that does not fit raise an error naming that tensor and the one
    the model expects, so a failed load leaves the model as it was.
    """
    arrays = read_torch_state(state)
    entries = _entries(model)
    by_name: Dict[str, _Entry] = {e.name: e for e in entries}
    given = list(arrays)
    expected = [e.name for e in entries]
    missing = [n for n in expected if n not in arrays]
    unexpected = [n for n in given if n not in by_name]
    owner = type(model).__name__
    if strict and (unexpected or missing):
        if unexpected:
            pos = given.index(unexpected[0])
            what = (f"torch tensor {unexpected[0]!r} (position {pos}, shape {tuple(arrays[unexpected[0]].shape)}) "
                    f"has no counterpart in this {owner}")
        else:
            what = f"the state dict has no tensor for {by_name[missing[0]].name!r}"
        want = by_name[missing[0]].describe() if missing else "nothing more"
        raise KeyError(f"load_state_dict(layout='torch') for {owner}: {what}; the first tensor the model "
                       f"expects and did not get is {want}" + _prefix_hint(given, expected)
                       + f" ({len(missing)} missing, {len(unexpected)} unexpected in all; pass strict=False "
                       "to load the common part)")
    for e in entries:
        if e.name not in arrays:
            continue
        arr = arrays[e.name]
        if tuple(arr.shape) != e.torch_shape:
            raise ValueError(f"load_state_dict(layout='torch') for {owner}: torch tensor {e.name!r} has shape "
                             f"{tuple(arr.shape)}, expected {e.describe()}")
        if arr.dtype != e.tensor.dtype:
            raise ValueError(f"load_state_dict(layout='torch') for {owner}: torch tensor {e.name!r} has dtype "
                             f"{arr.dtype}, the model's is {e.tensor.dtype}; build the model in {arr.dtype} "
                             f"(or call model.to(np.{arr.dtype}) before loading), or cast the values")
    for e in entries:
        if e.name in arrays:
            arr = arrays[e.name]
            e.tensor.data[...] = backend.to_device(arr.T if e.transposed else arr, backend.device_of(e.tensor.data))
    return missing, unexpected
