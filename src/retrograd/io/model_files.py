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
    """
    from ..nn.arch import ArchitectureError, build
    arrays, meta = load_tensors(path)
    if ARCH_KEY in meta:
        try:
            desc = json.loads(meta[ARCH_KEY])
            obj = _rebuild(build, desc, arrays, path)
        except (json.JSONDecodeError, ArchitectureError) as exc:
            raise SafetensorsError(f"{path}: the stored architecture cannot be rebuilt ({exc}); "
                                   f"load the weights with rg.io.load_tensors instead") from exc
    else:
        obj = OrderedDict((k, Tensor(v)) for k, v in arrays.items())
    if device is not None and parse_device(device, "rg.load: device") != "cpu":
        if isinstance(obj, OrderedDict):
            obj = OrderedDict((k, Tensor(to_device(t.data, device))) for k, t in obj.items())
        else:
            obj.to(device)
    return (obj, meta) if return_metadata else obj


def _rebuild(build, desc, arrays, path):
    """Build the module without disturbing the global generator, then put the stored values in."""
    from .. import backend
    gen = backend.default_generator()
    saved = gen.bit_generator.state
    try:
        model = build(desc)
    finally:
        gen.bit_generator.state = saved
    own = model.state_dict()
    missing = [k for k in own if k not in arrays]
    extra = [k for k in arrays if k not in own]
    if missing or extra:
        raise SafetensorsError(f"{path}: tensors do not match the stored architecture: missing {missing}, "
                               f"unexpected {extra}")
    for k, t in own.items():
        if tuple(arrays[k].shape) != t.shape:
            raise SafetensorsError(f"{path}: tensor {k!r} has shape {tuple(arrays[k].shape)}, the "
                                   f"architecture needs {t.shape}")
        t.data = arrays[k]
    return model
