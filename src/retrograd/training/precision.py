"""``fit(precision=...)``: the training step in mixed precision (autocast, and loss scaling for float16).

``MixedPrecisionStep`` is a training-step strategy: ``closure(x, y)`` gives
the closure handed to ``optimizer.step`` and ``step(closure)`` makes the
update. With ``precision="float16"``:

1. zero the gradients; forward and loss under ``rg.autocast("float16")``
   (matrix products in float16, the loss in float32);
2. backward of the loss times the scaler's scale; unscale the float32
   parameter gradients, noting any Inf or NaN;
3. ``optimizer.step`` with a closure that hands back the loss already
   computed, unless a gradient overflowed: then the step is skipped (the
   weights do not move) and the scale halves; ``scaler.update()``.

``"bfloat16"`` has float32's exponent range, so it needs no scaling: the
closure runs forward and loss under ``rg.autocast("bfloat16")`` and any
loss-closure optimizer may call it as often as it likes. Evaluation
(validation loss, metrics, ``predict``) runs the model under the same
autocast and casts its outputs to the parameters' dtype.
"""
from typing import Any, Callable, Optional, Tuple

import numpy as np

from ..autograd.amp import autocast, low_dtype
from ..autograd.functions import astype
from ..autograd.tensor import Tensor
from .grad_scaler import GradScaler

PRECISIONS = ("float32", "float16", "bfloat16")
Closure = Callable[[], Any]


class SkippedStepError(RuntimeError):
    """An optimizer asked for the loss a second time within a float16 step (its gradients are already unscaled)."""


class _Evaluated:
    """The closure a scaled step hands the optimizer: the loss computed a moment ago, once."""

    def __init__(self, loss: Any, optimizer: Any) -> None:
        self.loss = loss
        self.optimizer = optimizer
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise SkippedStepError(
                f"fit(precision='float16'): {type(self.optimizer).__name__} evaluates the loss more than once "
                "per step, which loss scaling cannot serve; use precision='bfloat16' or 'float32'")
        return self.loss


class MixedPrecisionStep:
    """The standard step (zero grads, forward, loss, backward, ``optimizer.step``) in mixed precision.

    ``dtype``: float16 or bfloat16; ``scaler``: a ``GradScaler`` (float16:
    required for safe training; bfloat16: None unless given).
    """

    def __init__(self, model: Any, loss_fn: Callable[..., Any], optimizer: Any, dtype: np.dtype,
                 scaler: Optional[GradScaler], out_dtype: np.dtype) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.dtype = dtype
        self.scaler = scaler
        self.out_dtype = out_dtype
        self.autocast = autocast(dtype)
        self.last_loss: Any = None
        self.skipped = 0                  # steps skipped because a gradient overflowed

    def closure(self, x: Tensor, y: Tensor) -> Closure:
        """The closure of one batch: zero grads, forward and loss under autocast, (scaled) backward, unscale."""
        optimizer, model, loss_fn, scaler = self.optimizer, self.model, self.loss_fn, self.scaler

        def closure() -> Any:
            optimizer.zero_grad()
            with self.autocast:
                loss = loss_fn(model(x), y)
            if scaler is None:
                loss.backward()
            else:
                # an overflow here is expected now and then, and handled: the step is skipped
                with np.errstate(over="ignore", invalid="ignore"):
                    scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            self.last_loss = loss.data
            return loss
        return closure

    def step(self, closure: Closure) -> float:
        """One update; returns the batch's loss (at the weights the step started from) as a float."""
        if self.scaler is None:
            value = self.optimizer.step(closure)
            return float(value if value is not None else self.last_loss)
        loss = closure()
        self.scaler.step(self.optimizer, _Evaluated(loss, self.optimizer))
        if self.scaler.found_inf(self.optimizer):
            self.skipped += 1
        self.scaler.update()
        return float(loss.data)

    def run(self, x: np.ndarray, y: np.ndarray) -> Tuple[float, int]:
        """One optimizer step on the batch ``(x, y)``: (its loss, its number of examples)."""
        return self.step(self.closure(Tensor._wrap(x), Tensor._wrap(y))), len(x)

    def forward(self, x: Tensor) -> Tensor:
        """The model's outputs for evaluation: under autocast, cast to the parameters' dtype."""
        with self.autocast:
            out: Tensor = self.model(x)
        return out if out.data.dtype == self.out_dtype else astype(out, self.out_dtype)

    @staticmethod
    def per_example(out: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(outputs, targets) one row per example, as losses and metrics take them."""
        return out, y

    def state_dict(self) -> dict:
        """The scaler's state, for checkpoints (empty without a scaler)."""
        return {} if self.scaler is None else {"grad_scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()``."""
        if self.scaler is not None and state.get("grad_scaler"):
            self.scaler.load_state_dict(state["grad_scaler"])


def mixed_precision(precision: Any, grad_scaler: Optional[GradScaler], model: Any, loss_fn: Callable[..., Any],
                    optimizer: Any, param_dtype: np.dtype, bptt: Any) -> Optional[MixedPrecisionStep]:
    """The mixed-precision step ``fit(precision=..., grad_scaler=...)`` asks for, or None for full precision.

    Checks the combination first: float32 master weights, a loss-closure
    optimizer (and for float16 one that evaluates the loss once per step:
    not a full-batch method), no truncated BPTT.
    """
    if grad_scaler is not None and not isinstance(grad_scaler, GradScaler):
        raise TypeError(f"fit(): grad_scaler must be an rg.GradScaler, got {type(grad_scaler).__name__}")
    if precision is None or (isinstance(precision, str) and precision == "float32"):
        if precision is not None and param_dtype != np.float32:
            raise ValueError(f"fit(): precision='float32' but the model's parameters are {param_dtype}; "
                             "leave precision unset to train in the parameters' dtype")
        if grad_scaler is not None:
            raise ValueError("fit(): grad_scaler is for precision='float16' (or 'bfloat16')")
        return None
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"fit(): precision must be one of {PRECISIONS} (or None), got {precision!r}")
    dtype = low_dtype(precision)
    if param_dtype != np.float32:
        raise ValueError(f"fit(precision={precision!r}) keeps float32 master weights, but the model's parameters "
                         f"are {param_dtype}; build the model in float32")
    kind = getattr(optimizer, "closure_kind", "loss")
    name = type(optimizer).__name__
    if kind != "loss":
        raise ValueError(f"fit(precision={precision!r}): {name} builds its own {kind} step "
                         "(a Jacobian or per-example gradients), which runs in full precision; use precision='float32'")
    if bptt is not None:
        raise ValueError(f"fit(precision={precision!r}) does not support truncated BPTT (bptt=) yet")
    if precision == "float16":
        if getattr(optimizer, "full_batch", False):
            raise ValueError(f"fit(precision='float16'): {name} is a full-batch method: it evaluates the loss "
                             "several times a step or assumes every step is taken, and loss scaling skips the "
                             "steps whose gradients overflow; use precision='bfloat16' (no scaling) or 'float32'")
        if grad_scaler is None:
            grad_scaler = GradScaler()
    return MixedPrecisionStep(model, loss_fn, optimizer, dtype, grad_scaler, param_dtype)
