"""Truncated backpropagation through time: TBPTT(k1, k2) over batches of sequences.

Williams & Peng (1990): every ``k1`` time steps, run the network over the
last ``k2`` steps from the (constant) state it had ``k2`` steps back,
take the loss on the newest ``k1`` outputs, backpropagate and update.
``k1 == k2`` is the usual chunked form (no recomputation); ``k1 == k2 == T``
is full BPTT. The window is rerun with the current weights; the state it
starts from is the one stored when an earlier forward pass reached that
step (computed with the weights of that moment), as in an online run.

The model protocol: ``outputs, state = model(x, state)`` where ``x`` is a
(batch, time, features) chunk, ``state`` is None at the start of a sequence
(or whatever the model returned before: a Tensor or a tuple of Tensors), and
``outputs`` is (batch, time, ...). Targets ``y`` are (N, T) class indices or
(N, T, ...) values, one per time step.
"""
from ..autograd import functions as F
from ..autograd.tensor import GradMode, Tensor


def detach(state):
    """The state cut off from the graph (Tensors, tuples and lists of them, or None)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return Tensor._wrap(state.data)
    return type(state)(detach(s) for s in state)


class TruncatedBPTT:
    """Runs the TBPTT(k1, k2) updates of one batch of sequences; see the module docstring."""

    def __init__(self, k1, k2=None):
        k2 = k1 if k2 is None else k2
        if int(k1) < 1 or int(k2) < int(k1):
            raise ValueError(f"bptt=(k1={k1}, k2={k2}): need 1 <= k1 <= k2 (k1 steps forward "
                             "between updates, k2 steps backpropagated)")
        self.k1, self.k2 = int(k1), int(k2)

    @staticmethod
    def check_shapes(X, y):
        """X must be (N, T, features) and y (N, T, ...), else ValueError."""
        if X.ndim < 3 or y.ndim < 2 or y.shape[:2] != X.shape[:2]:
            raise ValueError(f"fit(bptt=...): X must be (N, T, features) and y (N, T, ...) with "
                             f"the same N and T, got X {X.shape} and y {y.shape}")

    def run_batch(self, trainer, X, y):
        """All updates for sequences X (B, T, F) with targets y (B, T, ...); returns (loss sum, count)."""
        self.check_shapes(X, y)
        T = X.shape[1]
        states = {0: None}
        total, count = 0.0, 0
        first = 0
        for end in range(self.k1, T + self.k1, self.k1):
            end = min(end, T)
            start = max(0, end - self.k2)
            state = self._state_at(trainer.model, X, states, start)
            trainer._chunk = (X, y, start, first, end, state)
            value = float(trainer.optimizer.step(trainer._bptt_closure))
            n = X.shape[0] * (end - first)
            total += value * n
            count += n
            states[end] = trainer._chunk_state
            first = end
        return total, count

    @staticmethod
    def _state_at(model, X, states, pos):
        """The state after ``pos`` steps, run forward without a graph from the nearest saved one."""
        if pos in states:
            return detach(states[pos])
        known = max(p for p in states if p < pos)
        saved = GradMode.enabled
        GradMode.enabled = False
        try:
            _, state = model(Tensor._wrap(X[:, known:pos]), states[known])
        finally:
            GradMode.enabled = saved
        states[pos] = state
        return detach(state)


def flatten_time(out, target):
    """(B, t, ...) outputs and targets as (B*t, ...), the shape losses and metrics expect."""
    out = F.reshape(out, (-1,) + tuple(out.shape[2:])) if isinstance(out, Tensor) else \
        out.reshape((-1,) + out.shape[2:])
    return out, target.reshape((-1,) + target.shape[2:])


def bptt_closure(trainer):
    """The closure for one TBPTT update: forward over [start, end), loss on [first, end), backward."""
    X, y, start, first, end, state = trainer._chunk
    trainer.optimizer.zero_grad()
    out, new_state = trainer.model(Tensor._wrap(X[:, start:end]), state)
    out = out[:, first - start:]
    flat_out, flat_target = flatten_time(out, y[:, first:end])
    loss = trainer.loss_fn(flat_out, Tensor._wrap(flat_target))
    loss.backward()
    trainer._chunk_state = new_state
    return loss
