"""Where the compiled (replayed) training step plugs into fit: eager here; ``retrograd.accel.compiled`` supplies it.

``compiled_step(model, loss_fn, params, forced)`` returns an object whose
call ``step(xb, yb)`` sets every parameter's ``.grad`` for the batch and
returns the loss array, or None for the eager step. ``forced`` is
``fit(compile=True)``. The reference always answers None; with acceleration
on, the wing answers a ``CompiledStep`` where the model and loss can be
replayed (see docs/training.md).
"""
from ..autograd.ops.registry import Accelerated


def _eager(model, loss_fn, params, forced):
    """No compiled step: fit runs forward and backward eagerly."""
    return None


compiled_step = Accelerated(_eager)
