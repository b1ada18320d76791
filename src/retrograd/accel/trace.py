"""Record one forward-and-backward computation as a flat program, then replay it on new arrays.

A training step of a small network is a handful of primitives; in eager
mode most of its time goes to building Tensors, sorting the graph and
looking gradients up by identity, not to the arithmetic. ``trace`` runs the
step once eagerly while noting every primitive applied (op, arguments,
static parameters), and turns the record into a ``Program``: the forward as
a list of ``op.forward`` calls on a flat list of arrays, and the backward as
the VJP rules of the nodes that lead to the loss, in the order the engine
would run them. Each node keeps the version of its op that ran (an
accelerated one, where one applied: ``Op.versions``), and its ``vjp``, never
the engine-only ``lazy_vjp``. Replaying it makes the same NumPy calls in the
same order as the eager step, so its results are bit for bit the same,
without any Tensor.

What a trace cannot see: Python control flow that depends on values, and
work done outside primitives (random draws, in-place updates of running
statistics). Such a step is not a fixed program; callers replay only what
they know is one (``retrograd.training`` checks the module types and
compares a replay with the eager step before trusting it).
"""
import linecache
import weakref

import numpy as np

from ..autograd.ops.registry import ARRAY_MATH
from ..autograd.tensor import Tensor, start_recording, stop_recording


class Recorder:
    """Collects (op, args, kw, out) for every primitive applied while it is active."""

    def __init__(self):
        self.nodes = []
        self._token = None

    def __enter__(self):
        self._token = start_recording(self)   # apply() notes every primitive of this thread to the innermost one
        return self

    def __exit__(self, *exc):
        stop_recording(self._token)
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
    """The recorded step: ``run(*input_arrays)`` -> (loss array, gradient arrays per parameter).

    ``run`` replays the forward and backward on new inputs of the traced
    shapes; ``source`` is its generated Python.
    """

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
        self.loss_example = loss.data
        self.forward = forward
        self.backward = self._backward_plan(forward, shapes)
        # ``run(*input_arrays)`` -> (loss, grads) is the generated function itself: no wrapper call
        self.source, self.run = _generate(self)

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
            plan.append((op, arg_slots, kw, out_slot, list(needs), adds))
        return plan



def _generate(program):
    """The program as straight-line Python: (source, function of the input arrays).

    Generated rather than interpreted for two reasons, both measured on W2:
    the interpreter's list and dict traffic cost about 14 us a step, and it
    kept every forward value alive until the step ended, so each step's
    arrays landed in fresh, cold memory (a step ran about a third slower than
    the same NumPy calls with each array freed after its last use). The
    generated code deletes every value right after its last use.
    """
    ns = {"AM": ARRAY_MATH, "sum_to": ARRAY_MATH.sum_to}
    for s, value in enumerate(program.template):
        if value is not None:
            ns[f"c{s}"] = value
    for i, p in enumerate(program.params):
        ns[f"P{i}"] = p
    inputs = [f"v{s}" for s in range(program.n_inputs)]
    owned = {s for s, v in enumerate(program.template) if v is None} - set(range(program.n_inputs))
    owned -= set(program.param_slots)       # values the step makes: the ones worth freeing early

    def ref(s):
        return f"v{s}" if program.template[s] is None else f"c{s}"

    # statements as (text, slots read); the del lines are placed afterwards from the last reads
    steps = [([f"v{s} = P{i}.data"], ()) for i, s in enumerate(program.param_slots)]
    saved_used = {out for op, _, _, out, _, _ in program.backward if op.saves}   # work a VJP will take
    for i, (op, arg_slots, kw, out_slot, _) in enumerate(program.forward):
        call = f"F{i}({', '.join(ref(s) for s in arg_slots)}{', **K%d' % i if kw else ''})"
        ns[f"F{i}"], ns[f"K{i}"] = op.forward, kw
        if op.saves:
            line = f"v{out_slot}, s{out_slot} = {call}" if out_slot in saved_used else f"v{out_slot} = {call}[0]"
        else:
            line = f"v{out_slot} = {call}"
        steps.append(([line], tuple(arg_slots)))
    loss = program.loss_slot
    ns["ONE"] = np.ones_like(program.loss_example)      # the seed cotangent, in the loss's shape and dtype
    grad_slots = {add[0] for *_, adds in program.backward for add in adds if add is not None}
    grad_slots -= {loss}
    contributions = {}                          # value -> how many rules add a share into its gradient
    for *_, adds in program.backward:
        for add in adds:
            if add is not None:
                contributions[add[0]] = contributions.get(add[0], 0) + 1
    first = [f"{' = '.join(f'g{s}' for s in sorted(grad_slots))} = None"] if grad_slots else []
    steps.append((first + [f"g{loss} = ONE.copy()"], (loss,)))
    for j, (op, arg_slots, kw, out_slot, needs, adds) in enumerate(program.backward):
        ns[f"B{j}"], ns[f"N{j}"], ns[f"K{j}b"] = op.vjp, needs, kw
        extra = (f", **K{j}b" if kw else "") + (f", saved=s{out_slot}" if op.saves else "")
        reads = op.vjp_reads or (True,) * (1 + len(arg_slots))     # (out, *inputs) the rule looks at
        passed = [(s if r else None) for s, r in zip((out_slot,) + tuple(arg_slots), reads)]
        passed += list(arg_slots[len(passed) - 1:])
        rule = [f"sh = B{j}(AM, N{j}, g{out_slot}, "
                f"{', '.join('None' if s is None else ref(s) for s in passed)}{extra})"]
        for k, add in enumerate(adds):
            if add is None:
                continue
            s, shape = add
            if contributions[s] == 1:          # the only share this value gets: nothing to add it to
                rule += [f"g{s} = sh[{k}]",
                         f"if g{s} is not None and g{s}.shape != {shape!r}:",
                         f"    g{s} = sum_to(g{s}, shape={shape!r})"]
                continue
            rule += [f"t = sh[{k}]",
                     "if t is not None:",
                     f"    if t.shape != {shape!r}:",
                     f"        t = sum_to(t, shape={shape!r})",
                     f"    g{s} = t if g{s} is None else g{s} + t",
                     "t = None"]
        rule.append("sh = None")
        if out_slot == loss:                   # the loss's own cotangent is always there
            body = rule
        else:                                  # any other may be missing (every rule gave None)
            body = [f"if g{out_slot} is not None:"] + ["    " + line for line in rule] + [f"g{out_slot} = None"]
        if op.saves:
            body.append(f"s{out_slot} = None")
        steps.append((body, tuple(s for s in passed if s is not None)))
    steps.append(([f"return v{loss}, [{', '.join(f'g{s}' if s in grad_slots else 'None' for s in program.param_slots)}]"],
                  (loss,)))

    last_read = {}
    for k, (_, reads) in enumerate(steps):
        for s in reads:
            last_read[s] = k
    lines = [f"def replay({', '.join(inputs)}):"]
    for k, (text, reads) in enumerate(steps):
        lines += ["    " + t for t in text]
        dead = sorted(s for s in set(reads) if last_read[s] == k and s in owned and s != loss)
        if dead:
            lines.append(f"    del {', '.join(f'v{s}' for s in dead)}")
    source = "\n".join(lines) + "\n"
    filename = f"<retrograd replay {id(program):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)   # for tracebacks
    weakref.finalize(program, linecache.cache.pop, filename, None)                      # ... while it lives
    exec(compile(source, filename, "exec"), ns)
    return source, ns["replay"]

