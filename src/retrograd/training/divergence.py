"""The divergence guard: keeps the last good weights and says when a run has diverged.

A run has diverged when a step's loss or the weights at an epoch's end are NaN or Inf, or when
the loss *explodes*: an epoch's training loss is more than ``factor`` (1000 by default) times
the loss at the starting weights (the *reference*, measured on at most ``REFERENCE_ROWS`` evenly
spaced training examples before the first step: it is a scale, which 256 examples give well
enough; on W2's network that forward pass takes 0.8 ms, against about 250 ms for the fit). The factor leaves a wide margin: over 289 runs
that trained well (every optimizer of the tests/optim tables, every optimizer on digits and on a
sin fit, the shipped configs; ``benchmarks/divergence_survey.py``), the largest epoch loss was
57x the starting loss (Quickprop's first steps on Rosenbrock) and the next largest 2.7x, while
SGD at lr=1e3 on digits sits at 6650x and SARPROP with the step-size bug of issue #13 at
1576x. A zero or negative reference (a perfect model, a custom loss below zero) turns the
explosion test off, as there is no scale to measure against.
"""
import math
from typing import Any, List, Optional

import numpy as np

DEFAULT_FACTOR = 1e3
REFERENCE_ROWS = 256


def reference_rows(n: int) -> slice:
    """Evenly spaced rows (so sorted data give an unbiased sample), at most ``REFERENCE_ROWS``."""
    return slice(None, None, max(1, math.ceil(n / REFERENCE_ROWS)))


class DivergenceGuard:
    """Keeps a copy of the last good weights and tests each epoch's loss against the reference.

    Good weights are those an epoch ended with *and* at which the next epoch's first step then
    measured a finite loss within the limit: an epoch can end with finite weights whose loss is
    already Inf or exploded (in batch mode every epoch's loss is taken before its update), and
    going back to those would keep the damage. So the weights of an epoch's end are *proposed*,
    and *confirmed* by the first loss of the next epoch; a divergence restores the last
    confirmed ones (the starting weights until one is confirmed).

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
        self.good: List[np.ndarray] = []
        self.good_epoch = 0
        self._proposed: Optional[List[np.ndarray]] = None
        self._proposed_epoch = 0

    def start(self, params: List[Any], epoch: int) -> None:
        """Training starts (``epoch`` epochs done): its weights are good by definition."""
        self.good, self.good_epoch = [p.data.copy() for p in params], epoch
        self._proposed = None

    def propose(self, params: List[Any], epoch: int) -> None:
        """An epoch ended with finite weights (``epoch`` epochs done): copy them, to be confirmed."""
        self._proposed, self._proposed_epoch = [p.data.copy() for p in params], epoch

    def confirm(self, loss: float) -> None:
        """``loss`` was measured at the proposed weights: they are good if it is finite and in bounds."""
        if self._proposed is not None and math.isfinite(loss) and not self.exploded(loss):
            self.good, self.good_epoch = self._proposed, self._proposed_epoch
        self._proposed = None

    def restore(self, params: List[Any]) -> None:
        """Write the last good weights back in place (optimizers keep their references)."""
        for p, a in zip(params, self.good):
            p.data[...] = a

    @property
    def limit(self) -> Optional[float]:
        """The epoch loss above which the run has exploded (None: no test)."""
        if self.factor is None or self.reference is None or not self.reference > 0:
            return None
        return self.factor * self.reference

    def exploded(self, loss: float) -> bool:
        """True when ``loss`` (an epoch's training loss) is above the limit."""
        limit = self.limit
        return limit is not None and loss > limit

    def explain(self, what: str, lr: Optional[float]) -> str:
        """The stop reason: what happened, what was done about it, and what to try."""
        rate = f" (now {lr:g})" if lr is not None else ""
        kept = ("those training started from" if self.good_epoch == 0
                else f"those at the end of epoch {self.good_epoch}, the last good ones")
        return (f"{what}: training diverged; the weights were restored to {kept}. Lower the "
                f"learning rate{rate}, standardise the inputs, or clip gradients (clip_norm=1.0)")

    def state_dict(self) -> dict:
        """The reference, so that a resumed run tests against the loss where the run began."""
        return {"reference": self.reference}

    def load_state_dict(self, state: dict) -> None:
        if state.get("reference") is not None:
            self.reference = float(state["reference"])
