"""Gradient checkpointing: ``rg.checkpoint(fn, *args)`` keeps none of ``fn``'s intermediates and recomputes them in backward.

A recorded graph keeps every intermediate array alive until the backward
pass has used it; in a deep network that is most of the memory a step
takes. ``checkpoint`` trades it for time: ``fn`` runs forward without
recording, and the graph gets one node, the ``checkpoint`` primitive, whose
inputs are ``fn``'s tensor arguments and the tensors ``fn`` reads that want a
gradient (its parameters, found while it runs: ``apply`` reports every
primitive to the innermost recorder, the hook the replay compiler uses). Its
VJP runs ``fn`` again with recording on, from leaves holding the same input
arrays, sweeps that small graph, and hands the gradients of the inputs and
parameters to the outer sweep, which adds them up as for any op. The
recomputation sees what the forward saw: the random generators' states
(dropout draws the same masks), the autocast region, and module buffers are
put back afterwards (a batch-norm layer's running statistics move once).

Under ``create_graph=True`` the VJP runs ``fn`` on the node's own input
tensors, recording, and differentiates with ``create_graph``: derivatives of
every order work. The result is bit for bit the plain run's wherever the
arithmetic is the same: the recomputation makes the same NumPy calls. (A
tensor used both inside and outside a checkpointed region gets its two
shares added in another order, which can differ in the last bit.)
"""
from typing import Any, Callable, Optional

import numpy as np

from .. import backend
from .engine import compute_grads
from .ops.registry import ARRAY_MATH, TENSOR_MATH, primitive
from .tensor import AUTOCAST, GRAD_MODE, Tensor, apply, start_recording, stop_recording


class _Captured:
    """A recorder for the first forward: the tensors ``fn`` reads that were made outside it and want a gradient."""

    def __init__(self) -> None:
        self.tensors: dict[int, Tensor] = {}

    def note(self, op: Any, args: tuple, kw: dict, out: Tensor) -> None:
        """Called by ``apply`` for every primitive ``fn`` runs (under no_grad nothing inside requires grad)."""
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad and id(a) not in self.tensors:
                if a._op is not None:
                    raise ValueError(
                        f"checkpoint: the function reads a tensor of shape {a.shape} that was computed "
                        f"outside it (by {a._op.name}) and needs a gradient; pass it as an argument: "
                        "rg.checkpoint(fn, x, that_tensor)")
                self.tensors[id(a)] = a


class _Silent:
    """A recorder that hears nothing: the recomputation is not part of anyone's trace."""

    def note(self, op: Any, args: tuple, kw: dict, out: Tensor) -> None:
        """Ignore the primitive."""


def _flatten(value: Any, leaves: list) -> Any:
    """``value``'s nested tuples and lists with each Tensor replaced by its position in ``leaves``."""
    if isinstance(value, Tensor):
        leaves.append(value)
        return len(leaves) - 1
    if isinstance(value, (tuple, list)):
        return type(value)(_flatten(v, leaves) for v in value)
    raise TypeError(f"checkpoint: the function must return Tensors (or nested tuples / lists of them), "
                    f"got a {type(value).__name__}")


def _unflatten(structure: Any, leaves: list) -> Any:
    if isinstance(structure, int):
        return leaves[structure]
    return type(structure)(_unflatten(s, leaves) for s in structure)


class Region:
    """One checkpointed call: the function, its arguments' layout, the tensors it reads, and its saved context.

    It is the ``checkpoint`` op's static parameter; the replay compiler may
    call the op's forward and VJP on new arrays of the same shapes, so
    nothing here depends on the batch's values.
    """

    def __init__(self, fn: Callable[..., Any], args: tuple, preserve_rng_state: bool) -> None:
        self.fn = fn
        self.template = list(args)
        self.slots = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.preserve_rng_state = preserve_rng_state
        self.autocast = AUTOCAST.get()              # the recomputation runs in the forward's precision
        self.modules = _modules_of(fn, args)
        self.captured: list[Tensor] = []
        self.structure: Any = None
        self.dtypes: list = []
        self.shapes: list = []
        self.pending: Optional[tuple] = None        # the first forward's result, for the op to hand over

    # ------------------------------------------------------------------ forward
    def call(self, tensors: list) -> Any:
        """``fn`` on the template's arguments with ``tensors`` in the tensor slots."""
        args = list(self.template)
        for i, t in zip(self.slots, tensors):
            args[i] = t
        return self.fn(*args)

    def first_forward(self) -> Any:
        """Run ``fn`` without recording, noting what it reads; returns its outputs (detached)."""
        saved = self._rng_states()
        recorder = _Captured()
        mode = GRAD_MODE.set(False)
        token = start_recording(recorder)
        try:
            outputs = self.call([Tensor._wrap(self.template[i].data) for i in self.slots])
        finally:
            stop_recording(token)
            GRAD_MODE.reset(mode)
        self.captured = list(recorder.tensors.values())
        for i in self.slots:
            self.template[i] = None                 # the node holds the input tensors; the region need not
        leaves: list = []
        self.structure = _flatten(outputs, leaves)
        self.dtypes = [t.data.dtype for t in leaves]
        self.shapes = [t.data.shape for t in leaves]
        self.pending = (_pack([t.data for t in leaves]), saved)
        return outputs

    def forward(self, arrays: tuple) -> tuple:
        """The op's forward: ``(packed outputs, saved context)``."""
        if self.pending is not None:               # computed by the first forward a moment ago
            result, self.pending = self.pending, None
            return result
        saved = self._rng_states()                 # a replay: run fn again, without recording
        mode = GRAD_MODE.set(False)
        token = start_recording(_Silent())
        cast = AUTOCAST.set(self.autocast)
        try:
            outputs = self.call([Tensor._wrap(a) for a in arrays[:len(self.slots)]])
        finally:
            AUTOCAST.reset(cast)
            stop_recording(token)
            GRAD_MODE.reset(mode)
        leaves: list = []
        _flatten(outputs, leaves)
        return _pack([t.data for t in leaves]), saved

    def outputs(self, packed: Tensor) -> Any:
        """``fn``'s outputs, in its structure, as recorded views of the op's packed output."""
        if len(self.dtypes) == 1:
            return _unflatten(self.structure, [packed])
        leaves, start = [], 0
        for dtype, shape in zip(self.dtypes, self.shapes):
            size = int(np.prod(shape, dtype=np.int64))
            t = TENSOR_MATH.reshape(TENSOR_MATH.getitem(packed, index=slice(start, start + size)), shape=shape)
            if t.data.dtype != dtype:
                t = TENSOR_MATH.astype(t, dtype=dtype)
            leaves.append(t)
            start += size
        return _unflatten(self.structure, leaves)

    # ------------------------------------------------------------------ backward
    def vjp(self, m: Any, needs: list, g: Any, args: tuple, saved: Any) -> tuple:
        """Recompute ``fn`` with recording on and return the gradient share of every input of the node."""
        n = len(self.slots)
        graph = m is not ARRAY_MATH                # create_graph: differentiate on the node's own tensors
        if graph:
            inputs = list(args[:n])
        else:
            inputs = [Tensor._wrap(a, requires_grad=bool(need) and _floating(a)) for a, need in zip(args[:n], needs)]
        wanted = [t for t, need in zip(inputs, needs[:n]) if need]
        wanted += [c for c, need in zip(self.captured, needs[n:]) if need]
        buffers = self._buffers()
        current = self._rng_states()
        self._set_rng_states(saved)
        mode = GRAD_MODE.set(True)
        token = start_recording(_Silent())
        cast = AUTOCAST.set(self.autocast)
        try:
            leaves: list = []
            _flatten(self.call(inputs), leaves)
            packed = leaves[0] if len(leaves) == 1 else _pack_recorded(leaves)
        finally:
            AUTOCAST.reset(cast)
            stop_recording(token)
            GRAD_MODE.reset(mode)
            self._set_rng_states(current)
            self._restore_buffers(buffers)
        if not packed.requires_grad or not wanted:
            return (None,) * len(needs)
        grads = iter(compute_grads([packed], [g], inputs=wanted, create_graph=graph, accumulate=False))
        shares = []
        for need in needs:
            share = next(grads) if need else None
            shares.append(share if share is None or graph else share.data)
        return tuple(shares)

    # ------------------------------------------------------------------ saved context
    def _rng_states(self) -> Optional[list]:
        """The state of every NumPy generator ``fn`` may draw from: the global one and its modules' own."""
        if not self.preserve_rng_state:
            return None
        generators = _generators(self.modules)
        return [(gen, gen.bit_generator.state) for gen in generators]

    @staticmethod
    def _set_rng_states(states: Optional[list]) -> None:
        for gen, state in states or ():
            gen.bit_generator.state = state

    def _buffers(self) -> list:
        return [(b, b.data.copy()) for m in self.modules for _, b in m.named_buffers(prefix="")
                if hasattr(b, "data")] if self.modules else []

    @staticmethod
    def _restore_buffers(buffers: list) -> None:
        for b, data in buffers:
            b.data = data          # a layer may replace a buffer's array (or a NumPy scalar) rather than write it


def _floating(a: Any) -> bool:
    dtype = getattr(a, "dtype", None)
    return dtype is not None and (dtype.kind == "f" or dtype.name == "bfloat16")


def _modules_of(fn: Any, args: tuple) -> list:
    """Modules reachable from ``fn`` (a module, or a bound method of one) and from the arguments."""
    found, seen = [], set()
    for obj in (fn, getattr(fn, "__self__", None)) + tuple(args):
        modules = getattr(obj, "modules", None)
        if callable(modules) and hasattr(obj, "named_buffers"):
            for m in modules():
                if id(m) not in seen:
                    seen.add(id(m))
                    found.append(m)
    return found


def _generators(modules: list) -> list:
    """The global generator and every ``numpy.random.Generator`` held by one of ``modules``."""
    found = {id(backend.default_generator()): backend.default_generator()}
    for m in modules:
        for value in vars(m).values():
            if isinstance(value, np.random.Generator):
                found[id(value)] = value
    return list(found.values())


def _pack(arrays: list) -> Any:
    """One array for the op's output: the only one as it is, several raveled end to end in a common dtype."""
    if len(arrays) == 1:
        return arrays[0]
    xp = backend.array_module(*arrays)
    dtype = np.result_type(*[a.dtype for a in arrays])
    return xp.concatenate([a.reshape(-1).astype(dtype, copy=False) for a in arrays])


def _pack_recorded(tensors: list) -> Tensor:
    dtype = np.result_type(*[t.data.dtype for t in tensors])
    flat = [TENSOR_MATH.reshape(t, shape=(-1,)) for t in tensors]
    flat = [f if f.data.dtype == dtype else TENSOR_MATH.astype(f, dtype=dtype) for f in flat]
    return TENSOR_MATH.concatenate(*flat, axis=0)


@primitive(saves=True)
def checkpoint_(*arrays, region):
    """The checkpointed region's outputs, packed into one array; the saved work is the RNG states it started from."""
    return region.forward(arrays)


@checkpoint_.defvjp
def checkpoint_vjp(m, needs, g, out, *args, region, saved=None):
    """Recompute the region and sweep it: the gradient share of each input (see ``Region.vjp``)."""
    return region.vjp(m, needs, g, args, saved)


def checkpoint(fn: Callable[..., Any], *args: Any, preserve_rng_state: bool = True) -> Any:
    """``fn(*args)``, keeping none of its intermediates for backward: they are recomputed when needed.

    ``fn`` returns a Tensor or nested tuples / lists of Tensors. Tensors it
    reads without taking them as arguments (a module's parameters) are found
    while it runs; a tensor computed outside ``fn`` with a graph must be
    passed as an argument. ``preserve_rng_state`` (default True) restores the
    NumPy generators' states (the global one and those held by modules
    reachable from ``fn`` and ``args``) for the recomputation, so dropout
    draws the same masks. Without grad mode it is simply ``fn(*args)``.
    """
    if not callable(fn):
        raise TypeError(f"checkpoint: the first argument must be a function or module, got {type(fn).__name__}")
    if not GRAD_MODE.get():
        return fn(*args)
    region = Region(fn, args, preserve_rng_state)
    outputs = region.first_forward()
    inputs = [args[i] for i in region.slots] + region.captured
    if not any(t.requires_grad for t in inputs):
        region.pending = None
        return outputs
    packed = apply(checkpoint_, *inputs, region=region)
    return region.outputs(packed)
