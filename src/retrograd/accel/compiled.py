"""The training step as a recorded program: traced once per batch shape, checked, then replayed.

Eager mode builds a Tensor per operation and sorts the graph on every
backward pass; for a small network that costs more than the arithmetic.
When the model and the loss are fixed sequences of primitives (every module
``traceable``), ``CompiledStep`` records the step on the first batch of each
shape (``trace.py``), then on the next batch of that shape
runs the eager step *and* the replay and keeps the replay only if the loss
and every gradient agree bit for bit and no module buffer moved. From then
on that shape is replayed. Anything the check rejects stays eager.

Checked programs are kept with the model (``_shelf``), so a later ``fit`` of
the same model, loss and parameters replays from its first batch, the way a
JIT keeps its compiled functions; any change to a module's settings, its
parameters or the loss's options is a different configuration, traced anew.

``fit`` gets its step through ``retrograd.training.compiled.compiled_step``,
where ``register`` plugs this one in: with acceleration switched off, fit
runs eagerly.
"""
import threading
import weakref
from typing import Any, Optional

import numpy as np

from ..autograd.tensor import Tensor
from .trace import NotTraceable, Program, Recorder

_TRACE, _CHECK, _REPLAY, _EAGER = range(4)
_SHELVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # model -> {configuration: (references, {batch key: Program})}
_SHELVES_LOCK = threading.Lock()         # threads that train different models share the dictionary
_MAX_CONFIGURATIONS = 8                  # per model; more means settings keep changing: start over


def model_is_traceable(model: Any, loss_fn: Any) -> bool:
    """Every module of the model, and the loss, declares itself a fixed sequence of primitives."""
    modules = list(model.modules()) if hasattr(model, "modules") else [model]
    if not all(getattr(m, "traceable", False) for m in modules):
        return False
    if not all(isinstance(p.data, np.ndarray) for p in model.parameters()):
        return False      # replay is only checked on the CPU so far
    return bool(getattr(loss_fn, "traceable", False))


class CompiledStep:
    """``loss(model(x), y)`` and its backward, replayed where that is safe; ``fit`` uses one.

    In a hand-written loop it stands in for forward, loss and backward::

        step = rg.training.CompiledStep(model, rg.nn.get_loss("cross_entropy"))
        for xb, yb in batches:
            opt.zero_grad()
            loss = step(rg.tensor(xb), rg.tensor(yb))      # sets every parameter's .grad
            opt.step()

    It records whatever it is given (as ``fit(compile=True)``); the check
    against the eager step on the second batch of each shape still applies.
    One step serves one thread; steps of the same model in several threads
    share its checked programs.
    """

    def __init__(self, model: Any, loss_fn: Any, params: Optional[list] = None) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.params = list(model.parameters()) if params is None else list(params)
        # batch signature -> (_TRACE | _CHECK | _REPLAY | _EAGER, program); starts with the shelf's
        self.stage = {key: (_REPLAY, program) for key, program in self._shelf().items()}
        self.replays = 0      # steps served by a replay (for tests and curiosity)

    def __call__(self, xb: Tensor, yb: Tensor) -> np.ndarray:
        """Set every parameter's ``.grad`` for this batch (grads must be cleared) and return the loss array."""
        x, y = xb.data, yb.data
        key = (x.shape, x.dtype, y.shape, y.dtype, self.model.training)
        stage, program = self.stage.get(key, (_TRACE, None))
        if stage == _REPLAY:
            loss, grads = program.run(x, y)
            for p, g in zip(self.params, grads):
                if g is not None:
                    p.grad = Tensor._wrap(g if g.dtype == p.data.dtype else g.astype(p.data.dtype))
            self.replays += 1
            return loss
        if stage == _TRACE:
            with Recorder() as record:
                loss = self._forward(xb, yb)     # the step runs once, whether or not it can be replayed
            try:
                self.stage[key] = (_CHECK, Program(record.nodes, (xb, yb), self.params, loss))
            except NotTraceable:
                self.stage[key] = (_EAGER, None)
            loss.backward()
            return loss.data
        if stage == _CHECK:
            return self._check(key, program, xb, yb)
        loss = self._forward(xb, yb)
        loss.backward()
        return loss.data

    def _forward(self, xb, yb):
        return self.loss_fn(self.model(xb), yb)

    def _check(self, key, program, xb, yb):
        """The eager step on a second batch, and the replay beside it: keep the replay if identical."""
        buffers = [b.data.copy() for _, b in self.model.named_buffers()] if hasattr(self.model, "named_buffers") else []
        loss = self._forward(xb, yb)
        loss.backward()
        replayed, grads = program.run(xb.data, yb.data)
        same = np.array_equal(replayed, loss.data) and all(
            (g is None) == (p.grad is None) and (g is None or np.array_equal(g, p.grad.data))
            for p, g in zip(self.params, grads))
        if buffers:
            after = [b.data for _, b in self.model.named_buffers()]
            same = same and len(after) == len(buffers) and all(np.array_equal(a, b) for a, b in zip(after, buffers))
        self.stage[key] = (_REPLAY, program) if same else (_EAGER, None)
        if same:
            shelf = self._shelf()
            with _SHELVES_LOCK:
                shelf[key] = program
        return loss.data

    def _shelf(self):
        """The checked programs of this model under its current configuration (shared by every step)."""
        named = []
        config = configuration(self.model, self.loss_fn, self.params, named)
        with _SHELVES_LOCK:
            try:
                shelves = _SHELVES.setdefault(self.model, {})
            except TypeError:                 # cannot be weakly referenced: nothing is shared
                return {}
            entry = shelves.get(config)
            if entry is not None and not all(alive() is not None for alive in entry[0]):
                entry = None                  # an object it names by id is gone: the id may be reused
            if entry is None:
                if len(shelves) >= _MAX_CONFIGURATIONS:
                    shelves.clear()
                entry = shelves[config] = ([_reference(obj) for obj in named], {})
            return entry[1]


def _reference(obj):
    """A weak reference where the type allows one (the shelf must not keep the model alive), else a strong one."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def configuration(model: Any, loss_fn: Any, params: list, named: list) -> tuple:
    """A hashable summary of everything a trace may have baked in besides array values.

    Per module: its type and its settings (plain values by value, anything else
    by identity, appended to ``named``); per parameter: identity, dtype, shape
    and whether it wants a gradient; the same for a loss module, or the loss
    function's identity.
    """
    modules = list(model.modules()) if hasattr(model, "modules") else [model]
    if hasattr(loss_fn, "modules"):
        modules += list(loss_fn.modules())
    else:
        named.append(loss_fn)
    parts: list = [("loss", id(loss_fn) if not hasattr(loss_fn, "modules") else None)]
    for m in modules:
        settings = tuple(sorted((k, _setting(v, named)) for k, v in vars(m).items()
                                if k not in ("_parameters", "_modules", "_buffers", "_buffer_names")))
        parts.append((type(m), settings))
    parts += [(id(p), p.data.dtype.str, p.data.shape, p.requires_grad) for p in params]
    named += params
    return tuple(parts)


def _setting(value, named, depth=0):
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    if depth < 4 and isinstance(value, (tuple, list)):
        return (type(value).__name__,) + tuple(_setting(v, named, depth + 1) for v in value)
    if depth < 4 and isinstance(value, dict):
        return ("dict",) + tuple((k, _setting(v, named, depth + 1)) for k, v in value.items())
    named.append(value)
    return ("id", id(value))


def _for_fit(model, loss_fn, params, forced):
    """The compiled step fit asked for (``compile=True``: ``forced``), or for a model that is traceable."""
    return forced or model_is_traceable(model, loss_fn)


def make_step(model: Any, loss_fn: Any, params: list, forced: bool) -> CompiledStep:
    """fit's compiled step: a CompiledStep over ``params``."""
    return CompiledStep(model, loss_fn, params)


def register() -> None:
    """Have fit replay the training step where the model and loss allow it."""
    from ..training import compiled
    compiled.compiled_step.accelerate(make_step, when=_for_fit)
