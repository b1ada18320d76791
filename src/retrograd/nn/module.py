"""Module and Parameter: the container that finds its parameters by walking its attributes."""
from collections import OrderedDict
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (``requires_grad`` is True by default)."""
    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data.data if isinstance(data, Tensor) else data,
                         requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


def _array_of(value):
    """The array of a state-dict value: a Tensor's data, a NumPy or CuPy array, or anything np.asarray takes."""
    arr = value.data if isinstance(value, Tensor) else value
    return arr if backend.is_device_array(arr) else np.asarray(arr)


def _layout(layout):
    if layout not in ("retrograd", "torch"):
        raise ValueError(f"layout must be 'retrograd' or 'torch', got {layout!r}")
    return layout


class Module:
    """Base class of every layer and network.

    Assigning a Parameter, a Module or a buffer (``register_buffer``) as an
    attribute registers it, in assignment order, so ``parameters()``,
    ``state_dict()`` and ``to(dtype)`` find everything without any list kept
    by hand. Subclasses implement ``forward``; call the module itself.
    """

    # True when, for inputs of fixed shapes, forward is a fixed sequence of primitives: no random
    # draws, no side effects (running statistics), no branches on values. ``fit`` may then
    # record one training step and replay it (retrograd.accel.trace). Unknown subclasses
    # are assumed not to be; a subclass that is can say so.
    traceable = False

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               f"attribute {name!r}")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None: an absent optional parameter such as a bias)."""
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param if isinstance(param, Parameter) else Parameter(param))

    def register_buffer(self, name, tensor):
        """Register a non-trainable tensor that belongs in the state dict (e.g. BatchNorm's running mean)."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        setattr(self, name, tensor if isinstance(tensor, Tensor) else Tensor(tensor))

    def add_module(self, name, module):
        setattr(self, name, module)

    # ------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ walking
    def children(self):
        return iter(self._modules.values())

    def named_children(self):
        return iter(self._modules.items())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs, each parameter once even when shared."""
        seen = set()
        mods = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, p in m._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix=""):
        for mprefix, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mprefix}.{name}" if mprefix else name), b

    # ------------------------------------------------------------ modes and grads
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(np.zeros_like(p.data))      # zeros_like: on p's device

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self

    def num_parameters(self):
        return int(sum(p.data.size for p in self.parameters()))

    # ------------------------------------------------------------ state
    def state_dict(self, layout="retrograd"):
        """Ordered dict: dotted name -> Tensor (parameters, then buffers, module by module).

        ``layout="torch"``: name -> NumPy array (a copy) as PyTorch's equivalent
        model has it (``Linear.weight`` transposed to (out, in)); see nn/torch_layout.py.
        """
        if _layout(layout) == "torch":
            from .torch_layout import torch_state_dict
            return torch_state_dict(self)
        out = OrderedDict()
        for mprefix, m in self.named_modules():
            for table in (m._parameters, m._buffers):
                for name, t in table.items():
                    if t is not None:
                        out[f"{mprefix}.{name}" if mprefix else name] = t
        return out

    def load_state_dict(self, state, strict=True, layout="retrograd"):
        """Copy values into this module's parameters and buffers, checking names, shapes and dtypes.

        With ``strict`` every name must match both ways; a shape or dtype
        mismatch is always an error (cast the file first, or build the model
        with ``.to(dtype)``). Returns (missing, unexpected) name lists.
        ``layout="torch"``: ``state`` is a PyTorch state dict (arrays or torch
        tensors) or the path of a safetensors file saved from one; see nn/torch_layout.py.
        """
        if _layout(layout) == "torch":
            from .torch_layout import load_torch_state
            return load_torch_state(self, state, strict=strict)
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}; pass strict=False to load the common part")
        problems = []
        for k, target in own.items():
            if k not in state:
                continue
            arr = _array_of(state[k])
            if tuple(arr.shape) != target.shape:
                problems.append(f"{k}: file has shape {tuple(arr.shape)}, model has {target.shape}")
            elif arr.dtype != target.dtype:
                problems.append(f"{k}: file has dtype {arr.dtype}, model has {target.dtype} "
                                f"(call model.to({arr.dtype}) first, or cast the values)")
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems))
        for k, target in own.items():
            if k in state:     # values go where the model is: a file saved on a GPU loads on a CPU and back
                target.data[...] = backend.to_device(_array_of(state[k]), backend.device_of(target.data))
        return missing, unexpected

    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> "Module":
        """Move and/or cast every parameter and buffer in place; returns the module.

        ``model.to('cuda')``, ``model.to('cpu')``, ``model.to(np.float64)``,
        ``model.to('cuda', np.float32)`` or ``model.to(device=..., dtype=...)``.
        The Parameter objects stay the same, so an optimizer built before keeps
        them (it moves its own state at its next step, or at once with
        ``optimizer.to(...)``); gradients follow their parameters; integer
        buffers (``num_batches_tracked``) move but keep their dtype. Asking for
        'cuda' without CuPy or a GPU raises ``rg.DeviceError`` before anything moves.
        """
        device, dtype = backend.device_and_dtype(args, device, dtype, type(self).__name__)
        if device is not None and device != "cpu":
            backend.require_gpu(device)
        tensors = list(self.parameters()) + [b for _, b in self.named_buffers()]
        for t in tensors:
            t.data = backend.move_array(t.data, device, dtype)
            if t.grad is not None:
                grad = backend.move_array(t.grad.data, device, t.data.dtype if dtype is not None else None)
                t.grad = Tensor._wrap(grad)
        if tensors:
            backend.PLACEMENT[0] += 1
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
