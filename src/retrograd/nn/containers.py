"""Containers: Sequential, ModuleList, ModuleDict, Identity, and Residual for skip (shortcut) connections."""
from collections import OrderedDict

from ..autograd.grad_checkpoint import checkpoint
from .arguments import whole_number
from .module import Module


class Sequential(Module):
    """Modules applied in order: ``Sequential(Linear(2, 2), Sigmoid(), Linear(2, 1))``.

    Also accepts one OrderedDict of name -> module. Children are named "0",
    "1", ... so state-dict keys read ``0.weight``, ``2.bias``.

    ``checkpoint_every=k`` trains with gradient checkpointing: the modules
    run in segments of ``k``, each under ``rg.checkpoint``, so only the
    segments' outputs are kept for backward and each segment's intermediates
    are recomputed when its gradients are needed (less memory, about one more
    forward pass of time; k near the square root of the number of modules
    keeps the least). Also settable later with
    ``gradient_checkpointing(k)``; it is a training setting, not saved in
    model files.
    """
    traceable = True

    def __init__(self, *modules, checkpoint_every=None):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(str(name), _check_module(m, name))
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), _check_module(m, i))
        self.gradient_checkpointing(checkpoint_every)

    def gradient_checkpointing(self, every=1):
        """Checkpoint every ``every`` modules (None: off); returns the Sequential."""
        self.checkpoint_every = None if every is None else whole_number(every, "Sequential: checkpoint_every", 1)
        return self

    def forward(self, x):
        every = self.checkpoint_every
        if every is not None:
            mods = list(self._modules.values())
            # the last segment too: the engine keeps a recorded intermediate until the whole backward
            # pass ends (not only until its own VJP), so a segment left as is holds its memory throughout
            for start in range(0, len(mods), every):
                x = checkpoint(Sequential(*mods[start:start + every]), x)
            return x
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self._modules)), _check_module(module, len(self._modules)))
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (index names "0", "1", ...)."""
    traceable = True

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), _check_module(module, len(self._modules)))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        mods = list(self._modules.values())
        return ModuleList(mods[i]) if isinstance(i, slice) else mods[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of name -> module whose parameters are registered under those names."""
    traceable = True

    def __init__(self, modules=None):
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key, module):
        self.add_module(str(key), _check_module(module, key))

    def __getitem__(self, key):
        return self._modules[key]

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Identity(Module):
    """Returns its input unchanged (a placeholder, or the shortcut of a Residual)."""
    traceable = True

    def forward(self, x):
        return x


class Residual(Module):
    """``body(x) + shortcut(x)``: a skip connection.

    With no shortcut the input is added as is (shapes must match). The classic
    "inputs wired directly to the output" network is
    ``Residual(Sequential(Linear(n, h), Tanh(), Linear(h, k)), shortcut=Linear(n, k, bias=False))``.
    """
    traceable = True

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = _check_module(body, "body")
        self.shortcut = _check_module(shortcut, "shortcut") if shortcut is not None else Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


def _check_module(m, name):
    if isinstance(m, (list, tuple)) and all(isinstance(x, Module) for x in m):
        raise TypeError(f"container entry {name!r} is a {type(m).__name__} of modules; pass the "
                        "modules as separate arguments: Sequential(*layers)")
    if not isinstance(m, Module):
        raise TypeError(f"container entry {name!r} is a {type(m).__name__}, not a retrograd.nn.Module; "
                        f"wrap functions in a Module (e.g. rg.nn.Lambda is not provided: write a "
                        f"small Module subclass)")
    return m
