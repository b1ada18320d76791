"""``rg.save`` / ``rg.load``: modules and state dicts as safetensors files, with the architecture in the metadata."""
import json
from collections import OrderedDict

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import parse_device, to_device, to_host
from .safetensors_format import SafetensorsError, load_tensors, save_tensors

FORMAT_KEY = "retrograd.format"
VERSION_KEY = "retrograd.version"
ARCH_KEY = "retrograd.architecture"


def _version():
    from ..version import __version__
    return __version__


def save(obj, path, metadata=None):
    """Save a Module or a state dict (name -> Tensor/array) to ``path`` (safetensors, atomic).

    For a module built from retrograd layers the metadata also holds a JSON
    description of the architecture, so ``rg.load`` returns the module
    itself; other modules are stored as their state dict. ``metadata``
    ({str: str}) is added to the header.
    """
    from ..nn.arch import describe
    from ..nn.module import Module
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta[VERSION_KEY] = _version()
    if isinstance(obj, Module):
        state = obj.state_dict()
        desc = describe(obj)
        meta[FORMAT_KEY] = "module" if desc is not None else "state_dict"
        if desc is not None:
            meta[ARCH_KEY] = json.dumps(desc, separators=(",", ":"))
    elif isinstance(obj, dict):
        state = obj
        meta[FORMAT_KEY] = "state_dict"
    else:
        raise TypeError(f"rg.save: expected a Module or a dict of name -> tensor, got {type(obj).__name__}")
    arrays = OrderedDict()
    for k, v in state.items():
        arrays[k] = v.numpy() if isinstance(v, Tensor) else np.asarray(to_host(v))   # host copies: any device
    save_tensors(arrays, path, meta)


def load(path, return_metadata=False, device=None):
    """Load a file written by ``rg.save``: a Module when the architecture is stored, else a state dict.

    The state dict is an OrderedDict name -> Tensor, ready for
    ``model.load_state_dict`` (which puts the values where the model is).
    Files from other safetensors writers load as state dicts. Nothing in the
    file is executed. Files hold host arrays, so one saved from a GPU loads on
    a CPU; ``device='cuda'`` puts the module or tensors on the GPU.

    The stored architecture is checked against the tensors in the file (names, shapes, float or
    integer kind) *before* any module is built, so a small file cannot make ``load`` allocate
    more than the file holds. Raises :class:`SafetensorsError` naming the file for a damaged
    file or an architecture that is malformed (missing keys, wrong types, unknown layers, absurd
    nesting) or does not match the tensors; OSError when the file cannot be read.
    """
    arrays, meta = load_tensors(path)
    if ARCH_KEY in meta:
        obj = _rebuild(parse_architecture(meta[ARCH_KEY], path), arrays, path)
    else:
        obj = OrderedDict((k, Tensor(v)) for k, v in arrays.items())
    if device is not None and parse_device(device, "rg.load: device") != "cpu":
        if isinstance(obj, OrderedDict):
            obj = OrderedDict((k, Tensor(to_device(t.data, device))) for k, t in obj.items())
        else:
            obj.to(device)
    return (obj, meta) if return_metadata else obj


def parse_architecture(text: str, path: object) -> object:
    """The architecture description stored as JSON ``text``; SafetensorsError naming ``path`` if unreadable."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:       # JSONDecodeError is a ValueError
        raise SafetensorsError(f"{path}: the stored architecture is not valid JSON ({type(exc).__name__}: "
                               f"{str(exc)[:200]}); load the weights with rg.io.load_tensors instead") from None


def check_architecture(desc: object, arrays: "dict[str, np.ndarray]", path: object) -> None:
    """Compare ``desc`` with the tensors read from ``path`` (names, shapes, kinds); nothing is built."""
    from ..nn.arch_check import ArchitectureError, expected_state
    try:
        # the bound stops a description that names 10^9 tensors; the slack lets a few missing ones be listed
        expected = expected_state(desc, max_tensors=len(arrays) + 100)
    except ArchitectureError as exc:
        raise SafetensorsError(f"{path}: the stored architecture cannot be rebuilt ({exc}); "
                               f"load the weights with rg.io.load_tensors instead") from None
    missing = [k for k in expected if k not in arrays]
    extra = [k for k in arrays if k not in expected]
    if missing or extra:
        raise SafetensorsError(f"{path}: tensors do not match the stored architecture: missing {missing[:20]}, "
                               f"unexpected {extra[:20]}")
    for k, (shape, kind) in expected.items():
        arr = arrays[k]
        if tuple(arr.shape) != shape:
            raise SafetensorsError(f"{path}: tensor {k!r} has shape {tuple(arr.shape)}, the "
                                   f"architecture needs {shape}")
        if (arr.dtype.kind != "f") if kind == "f" else (arr.dtype.kind not in "iu"):
            need = "a floating-point" if kind == "f" else "an integer"
            raise SafetensorsError(f"{path}: tensor {k!r} has dtype {arr.dtype}, the architecture needs "
                                   f"{need} tensor")


def _rebuild(desc, arrays, path):
    """Check ``desc`` against the arrays, build the module without disturbing the global generator,
    then put the stored values in."""
    from .. import backend
    from ..nn.arch import ArchitectureError, build
    check_architecture(desc, arrays, path)
    gen = backend.default_generator()
    saved = gen.bit_generator.state
    try:
        model = build(desc)
    except ArchitectureError as exc:
        raise SafetensorsError(f"{path}: the stored architecture cannot be rebuilt ({exc}); "
                               f"load the weights with rg.io.load_tensors instead") from None
    finally:
        gen.bit_generator.state = saved
    own = model.state_dict()
    if set(own) != set(arrays) or any(tuple(arrays[k].shape) != t.shape for k, t in own.items()):
        # cannot happen while arch_check's tables match the layers (tested for every layer type)
        raise SafetensorsError(f"{path}: the built module's tensors differ from the checked architecture")
    for k, t in own.items():
        t.data = arrays[k]
    return model
