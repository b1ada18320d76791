"""The divergence guard: keeps the last good weights and says when a run has diverged.

A run has diverged when a step's loss or the weights at an epoch's end are NaN or Inf, or when
its loss *explodes*: the training loss of two epochs in a row is more than ``factor`` (50 by
default) times the *reference*, the larger of the loss at the starting weights and the loss of
the better of two constant predictions (all zeros, which for logits is the uniform guess, and the
targets' mean). Both are measured before the first step on at most ``REFERENCE_ROWS`` evenly
spaced training examples: a scale, which 256 examples give well enough (0.8 ms on W2's network,
against about 250 ms for the fit). The constant prediction keeps a second ``fit`` of a trained
model, whose starting loss may be 1e-4, from calling an ordinary rise of the loss an explosion.

Two epochs, because one is a spike: Quickprop's parabola steps on Rosenbrock jump to 86000x the
starting loss for one step and come back (150 seeds). Held for two epochs, the largest ratio in
any run that went on to train (the tests/optim tables, Quickprop on Rosenbrock over 150 seeds,
every optimizer on digits and on a sin fit, the shipped configs) was 35x (one Quickprop seed),
and apart from Quickprop on Rosenbrock 1.07x; SGD at lr=1e3 on digits holds 95-150x (standardised
inputs, as the CLI gives them) or 6000x (inputs in [0, 1]), and at lr=10 on inputs in [0, 1]
61-64x. ``benchmarks/divergence_survey.py`` measures all of these. A reference of zero or below
(a custom loss that can be negative) turns the explosion test off: there is no scale.
"""
import math
from typing import Any, Callable, List, Optional

import numpy as np

DEFAULT_FACTOR = 50.0
EPOCHS_ABOVE = 2          # consecutive epochs above the limit that make an explosion
REFERENCE_ROWS = 256


def constant_prediction_loss(loss_value: Callable[[np.ndarray, np.ndarray], float],
                             out: np.ndarray, y: np.ndarray) -> Optional[float]:
    """The lower finite loss of two constant predictions shaped like ``out``: zeros, and the
    targets' mean over the examples when ``y`` has the outputs' shape. None if neither is finite
    (a loss whose outputs must lie elsewhere, or that refuses them)."""
    candidates = [np.zeros_like(out)]
    if y.shape == out.shape and y.dtype.kind == "f":
        candidates.append(np.broadcast_to(y.mean(axis=0), out.shape).astype(out.dtype))
    values = []
    for prediction in candidates:
        try:
            with np.errstate(all="ignore"):
                value = float(loss_value(prediction, y))
        except (ValueError, TypeError, ArithmeticError):
            continue
        if math.isfinite(value):
            values.append(value)
    return min(values) if values else None


def reference_rows(n: int) -> slice:
    """Evenly spaced rows (so sorted data give an unbiased sample), at most ``REFERENCE_ROWS``."""
    return slice(None, None, max(1, math.ceil(n / REFERENCE_ROWS)))


class DivergenceGuard:
    """Keeps a copy of the last good weights and tests each epoch's loss against the reference.

    Which weights are good: an epoch can end with finite weights whose loss is already Inf or
    above the limit (in batch mode each epoch's loss is taken before its update, so the epoch
    that made a blown-up update still records a good loss), and going back to those would keep
    the damage. So the weights an epoch ends with are *pending*, and become *good* when the
    next epoch's training loss is finite and within the limit. An explosion restores the good
    ones. A non-finite loss or weights during an epoch restore the pending ones if that
    epoch's first step measured a finite loss at them, else the good ones.

    ``factor`` None turns the explosion test off (non-finite values are always caught).
    """

    def __init__(self, factor: Optional[float] = DEFAULT_FACTOR):
        if factor is not None:
            if isinstance(factor, bool) or not isinstance(factor, (int, float, np.number)):
                raise TypeError(f"fit(): divergence_factor must be a number > 1 or None, got {factor!r}")
            if not factor > 1:
                raise ValueError(f"fit(): divergence_factor must be > 1 (or None to turn the test "
                                 f"off), got {factor}")
        self.factor = None if factor is None else float(factor)
        self.reference: Optional[float] = None
        self.reference_is = "the loss at the starting weights"
        self.good: List[np.ndarray] = []
        self.good_epoch = 0
        self._pending: Optional[List[np.ndarray]] = None
        self._pending_epoch = 0
        self._pending_finite = False   # the current epoch's first step measured a finite loss at them
        self.epochs_above = 0     # consecutive epochs so far whose loss was above the limit

    def set_reference(self, start: float, constant: Optional[float]) -> None:
        """The reference: the loss at the starting weights, or a constant prediction's if larger."""
        self.reference = start
        if constant is not None and not constant <= start:      # also when start is NaN
            self.reference, self.reference_is = constant, "the loss of a constant prediction"

    def start(self, params: List[Any], epoch: int) -> None:
        """Training starts (``epoch`` epochs done): its weights are good by definition."""
        self.good, self.good_epoch = [p.data.copy() for p in params], epoch
        self._pending = None

    def first_loss(self, loss: float) -> None:
        """The loss of an epoch's first step, measured at the weights the last epoch ended with."""
        self._pending_finite = math.isfinite(loss)

    def end_epoch(self, params: List[Any], epoch: int, loss: float) -> None:
        """An epoch ended (``epoch`` epochs done) with finite weights and training loss ``loss``."""
        if self._pending is not None and math.isfinite(loss) and not self.above(loss):
            self.good, self.good_epoch = self._pending, self._pending_epoch
        self._pending, self._pending_epoch = [p.data.copy() for p in params], epoch

    def restore(self, params: List[Any], during_epoch: bool = False) -> None:
        """Write the last good weights back in place (optimizers keep their references).

        ``during_epoch``: a non-finite loss or weights in the middle of an epoch, which the
        weights that epoch started from survive if its first step found their loss finite.
        """
        if during_epoch and self._pending is not None and self._pending_finite:
            self.good, self.good_epoch = self._pending, self._pending_epoch
        for p, a in zip(params, self.good):
            p.data[...] = a

    @property
    def limit(self) -> Optional[float]:
        """The loss above which an epoch counts towards an explosion (None: no test)."""
        if self.factor is None or self.reference is None or not self.reference > 0:
            return None
        return self.factor * self.reference

    def above(self, loss: float) -> bool:
        """True when ``loss`` is above the limit."""
        limit = self.limit
        return limit is not None and loss > limit

    def exploded(self, loss: float) -> bool:
        """Count an epoch's training loss; True once ``EPOCHS_ABOVE`` epochs in a row were above the limit."""
        self.epochs_above = self.epochs_above + 1 if self.above(loss) else 0
        return self.epochs_above >= EPOCHS_ABOVE

    def explain(self, what: str, lr: Optional[float]) -> str:
        """The stop reason: what happened, what was done about it, and what to try."""
        rate = f" (now {lr:g})" if lr is not None else ""
        kept = ("those training started from" if self.good_epoch == 0
                else f"those at the end of epoch {self.good_epoch}, the last good ones")
        return (f"{what}: training diverged; the weights were restored to {kept}. Lower the "
                f"learning rate{rate}, standardise the inputs, or clip gradients (clip_norm=1.0)")

    def state_dict(self) -> dict:
        """The reference (a resumed run tests against the loss where the run began) and the count."""
        return {"reference": self.reference, "reference_is": self.reference_is,
                "epochs_above": self.epochs_above}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved."""
        if state.get("reference") is not None:
            self.reference = float(state["reference"])
            self.reference_is = state.get("reference_is", self.reference_is)
        self.epochs_above = int(state.get("epochs_above", 0))
