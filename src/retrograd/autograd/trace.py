"""Record one forward-and-backward computation as a flat program, then replay it on new arrays.

A training step of a small network is a handful of primitives; in eager
mode most of its time goes to building Tensors, sorting the graph and
looking gradients up by identity, not to the arithmetic. ``trace`` runs the
step once eagerly while noting every primitive applied (op, arguments,
static parameters), and turns the record into a ``Program``: the forward as
a list of ``op.forward`` calls on a flat list of arrays, and the backward as
the VJP rules of the nodes that lead to the loss, in the order the engine
would run them. Replaying it makes the same NumPy calls in the same order as
the eager step, so its results are bit for bit the same, without any Tensor.

What a trace cannot see: Python control flow that depends on values, and
work done outside primitives (random draws, in-place updates of running
statistics). Such a step is not a fixed program; callers replay only what
they know is one (``retrograd.training`` checks the module types and
compares a replay with the eager step before trusting it).
"""
import numpy as np

from . import tensor as _tensor
from .ops.registry import ARRAY_MATH
from .tensor import Tensor


class Recorder:
    """Collects (op, args, kw, out) for every primitive applied while it is active."""

    def __init__(self):
        self.nodes = []

    def __enter__(self):
        _tensor.RECORDERS.append(self)   # apply() notes every primitive to the innermost one
        return self

    def __exit__(self, *exc):
        _tensor.RECORDERS.pop()
        return False

    def note(self, op, args, kw, out):
        self.nodes.append((op, args, kw, out))


class NotTraceable(RuntimeError):
    """The recorded computation cannot be replayed as a fixed program."""


def trace(fn, inputs, params):
    """Run ``fn(*inputs)`` eagerly (it must return a scalar loss Tensor) and record it.

    Returns ``(loss, program)``; the eager loss is returned untouched, so the
    caller can still call ``loss.backward()`` on it.
    """
    with Recorder() as rec:
        loss = fn(*inputs)
    return loss, Program(rec.nodes, inputs, params, loss)


def _constant(value, rows, op):
    """A value the replay will reuse as is; refuse arrays that look computed from the batch.

    An array made from the inputs outside any primitive (``y.astype(...)``, a
    one-hot matrix) is invisible to the record and would be replayed stale;
    such arrays have the batch's row count, so any constant array that does is
    refused rather than trusted.
    """
    if rows is not None and getattr(value, "ndim", 0) >= 1 and value.shape[0] == rows:
        raise NotTraceable(f"{op.name} takes an array of {rows} rows that was not computed by a "
                           "primitive (probably derived from the batch outside the graph)")
    return value


def _static(value, rows, op, slot_of):
    """Check a static parameter (an op's keyword argument): it must not be, or come from, the batch."""
    if isinstance(value, (tuple, list)):
        for v in value:
            _static(v, rows, op, slot_of)
    elif hasattr(value, "shape"):
        if id(value) in slot_of:
            raise NotTraceable(f"{op.name} takes an input of the traced step as a static parameter")
        _constant(value, rows, op)


class Program:
    """The recorded step: ``run(*input_arrays)`` -> (loss array, gradient arrays per parameter)."""

    def __init__(self, nodes, inputs, params, loss):
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            raise NotTraceable("the traced function must return a one-element loss Tensor")
        slot_of = {}
        template = []

        def new_slot(value):
            template.append(value)
            return len(template) - 1

        for x in inputs:
            # by the Tensor and by its array: losses often unwrap their targets
            slot_of[id(x)] = slot_of[id(x.data)] = new_slot(None)
        self.n_inputs = len(inputs)
        rows = inputs[0].data.shape[0] if inputs and inputs[0].data.ndim else None
        self.param_slots = []
        for p in params:
            slot_of[id(p)] = s = new_slot(None)
            self.param_slots.append(s)
        self.params = list(params)
        wants = {id(p) for p in params if p.requires_grad}

        # slots are keyed by id(): every Tensor and array stays alive in ``nodes`` meanwhile
        forward, grad_slots, shapes = [], set(), {}
        for op, args, kw, out in nodes:
            arg_slots, needs = [], []
            for a in args:
                if isinstance(a, Tensor):
                    s = slot_of.get(id(a))
                    if s is None:
                        s = slot_of.get(id(a.data))
                    if s is None:                    # made outside any primitive: a constant
                        s = slot_of[id(a)] = new_slot(_constant(a.data, rows, op))
                    arg_slots.append(s)
                    # a detached view of a recorded value shares its slot but passes no gradient
                    needs.append(a.requires_grad and (s in grad_slots or id(a) in wants))
                else:
                    s = slot_of.get(id(a)) if hasattr(a, "shape") else None
                    arg_slots.append(s if s is not None else new_slot(_constant(a, rows, op)))
                    needs.append(False)
            for value in kw.values():
                _static(value, rows, op, slot_of)
            out_slot = slot_of[id(out)] = slot_of[id(out.data)] = new_slot(None)
            shapes[out_slot] = out.data.shape
            for s, a in zip(arg_slots, args):
                if isinstance(a, Tensor):
                    shapes[s] = a.data.shape
            differentiable = any(needs) and op.vjp is not None
            if differentiable:
                grad_slots.add(out_slot)
            forward.append((op, tuple(arg_slots), kw, out_slot, tuple(needs) if differentiable else None))

        self.loss_slot = slot_of.get(id(loss))
        if self.loss_slot is None:
            raise NotTraceable("the loss was not computed by a primitive inside the traced function")
        self.template = template
        self.forward = [(op.forward, op.saves, arg_slots, kw, out_slot)
                        for op, arg_slots, kw, out_slot, _ in forward]
        self.backward = self._backward_plan(forward, shapes)

    def _backward_plan(self, forward, shapes):
        """The differentiable nodes that lead to the loss, newest first, with what each VJP needs."""
        reaches = {self.loss_slot}
        plan = []
        for op, arg_slots, kw, out_slot, needs in reversed(forward):
            if needs is None or out_slot not in reaches:
                continue
            adds = []
            for s, need in zip(arg_slots, needs):
                if need:
                    reaches.add(s)
                    adds.append((s, shapes[s]))
                else:
                    adds.append(None)
            plan.append((op.vjp, op.saves, arg_slots, kw, out_slot, list(needs), adds))
        return plan

    def run(self, *input_arrays):
        """Forward and backward on new inputs of the traced shapes; returns (loss, grads)."""
        vals = self.template[:]
        vals[:self.n_inputs] = input_arrays
        for s, p in zip(self.param_slots, self.params):
            vals[s] = p.data
        saved = {}
        for fwd, saves, arg_slots, kw, out_slot in self.forward:
            out = fwd(*[vals[s] for s in arg_slots], **kw)
            if saves:
                out, saved[out_slot] = out
            vals[out_slot] = out
        loss = vals[self.loss_slot]
        grads = {self.loss_slot: np.ones_like(loss)}
        for vjp, saves, arg_slots, kw, out_slot, needs, adds in self.backward:
            g = grads.pop(out_slot, None)
            if g is None:
                continue
            if saves:
                kw = dict(kw, saved=saved.pop(out_slot))
            shares = vjp(ARRAY_MATH, needs, g, vals[out_slot], *[vals[s] for s in arg_slots], **kw)
            for add, share in zip(adds, shares):
                if add is None or share is None:
                    continue
                s, shape = add
                if share.shape != shape:
                    share = ARRAY_MATH.sum_to(share, shape=shape)
                prev = grads.get(s)
                grads[s] = share if prev is None else prev + share
        return loss, [grads.get(s) for s in self.param_slots]
