"""The training step as a recorded program: traced once per batch shape, checked, then replayed.

Eager mode builds a Tensor per operation and sorts the graph on every
backward pass; for a small network that costs more than the arithmetic.
When the model and the loss are fixed sequences of primitives (every module
``traceable``), ``CompiledStep`` records the step on the first batch of each
shape (``retrograd.autograd.trace``), then on the next batch of that shape
runs the eager step *and* the replay and keeps the replay only if the loss
and every gradient agree bit for bit and no module buffer moved. From then
on that shape is replayed. Anything the check rejects stays eager.
"""
import numpy as np

from ..autograd.tensor import Tensor
from ..autograd.trace import NotTraceable, Program, Recorder

_TRACE, _CHECK, _REPLAY, _EAGER = range(4)


def model_is_traceable(model, loss_fn):
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
    """

    def __init__(self, model, loss_fn, params=None):
        self.model = model
        self.loss_fn = loss_fn
        self.params = list(model.parameters()) if params is None else list(params)
        self.stage = {}       # batch signature -> (_TRACE | _CHECK | _REPLAY | _EAGER, program)
        self.replays = 0      # steps served by a replay (for tests and curiosity)

    def __call__(self, xb, yb):
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
        return loss.data
