"""Quickprop (Fahlman 1988): a per-weight secant (parabola) step, with growth limit mu."""
import numpy as np

from .hyper import Real
from .optimizer import Optimizer


class Quickprop(Optimizer):
    """Quickprop, as in Fahlman's 1988 report and his reference C code.

    With the slope s = dE/dw + decay * w and the previous step dw':

        dw = dw' * s / (s' - s)           (jump to the parabola's minimum; |dw| <= mu |dw'|)
             + (-lr * s)                  (gradient term, only while s keeps the sign that made dw')
        dw = -lr * s                      when dw' = 0 (first step, or the weight did not move)

    If s is at least mu / (1 + mu) of s' in the same direction, the parabola step would
    exceed the growth limit and dw' * mu is used instead.
    """
    full_batch = True
    hyperparameters = {"lr": Real(low=0), "mu": Real(low=0, low_open=True), "decay": Real(low=0)}

    def __init__(self, params, lr=0.01, mu=1.75, decay=1e-4, **common):
        """``lr`` is Fahlman's epsilon; ``decay`` his weight-decay term (0.0001), added to the slope."""
        super().__init__(params, dict(lr=lr, mu=mu, decay=decay), **common)

    def init_state(self, p, group):
        return {"prev_slope": np.zeros_like(p), "prev_step": np.zeros_like(p)}

    def update(self, p, g, state, group):
        lr, mu = group["lr"], group["mu"]
        s = g + group["decay"] * p
        ps, pd = state["prev_slope"], state["prev_step"]
        shrink = mu / (1.0 + mu)
        # work in the "descent" direction d = -sign(previous step) so both signs share one formula
        direction = np.sign(pd)                       # +1 moved up, -1 moved down, 0 did not move
        down = -s * direction                          # > 0: the slope still says "keep going"
        prev_down = -ps * direction
        with np.errstate(divide="ignore", invalid="ignore"):
            quad = pd * s / (ps - s)
        step = np.where(down >= shrink * prev_down, mu * pd, quad)
        step = np.where(down > 0, step - lr * s, step)
        step = np.where(direction == 0, -lr * s, step)
        step = np.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0).astype(p.dtype, copy=False)
        p += step
        state["prev_step"] = step
        state["prev_slope"] = s.astype(p.dtype, copy=True)     # NumPy or CuPy alike
