"""Dynamic loss scaling for float16 training: ``rg.GradScaler``, the rules of ``torch.amp.GradScaler``.

float16 holds numbers from about 6e-8 to 65504: the gradients of a float16
region underflow to zero long before the float32 weights stop learning.
Multiplying the loss by a large factor S moves every gradient of the
backward pass up by S; dividing the float32 parameter gradients by S
afterwards gives back the true values. Too large an S overflows to Inf, so
S is adjusted as training goes:

- ``scale(loss)``: the loss times S (a float32 scale, 2**16 to start);
- ``unscale_(optimizer)``: each parameter gradient times 1/S, noting
  whether any holds Inf or NaN (call it before clipping gradients by hand);
- ``step(optimizer)``: ``optimizer.step()`` unless an Inf or NaN was found,
  in which case the step is skipped and the weights stay as they were;
- ``update()``: after an overflow S is multiplied by ``backoff_factor``
  (0.5); after ``growth_interval`` (2000) steps in a row without one, by
  ``growth_factor`` (2), unless that would overflow float32.

The defaults, the order of operations and the error messages follow
``torch.amp.GradScaler`` (``tests/autograd/test_autocast.py`` steps both on
the same gradients and compares). One host read per step: whether the
gradients were finite.
"""
import math
from typing import Any, Optional

import numpy as np

from .. import backend
from ..autograd.functions import mul
from ..autograd.tensor import Tensor

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _float32(value: float) -> float:
    """``value`` rounded to float32, as torch keeps its scale in a float32 tensor (Inf past its range)."""
    with np.errstate(over="ignore"):
        return float(np.float32(value))


class GradScaler:
    """Scales the loss, unscales the gradients, skips steps that overflowed and adapts the scale.

    ::

        scaler = rg.GradScaler()
        for xb, yb in batches:
            opt.zero_grad()
            with rg.autocast("float16"):
                loss = loss_fn(model(xb), yb)
            scaler.scale(loss).backward()
            scaler.step(opt)          # unscales, then steps unless a gradient is Inf or NaN
            scaler.update()

    ``enabled=False`` makes every method a pass-through (``scale`` returns
    the loss, ``step`` calls ``optimizer.step``).
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        if not (isinstance(init_scale, (int, float)) and math.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"GradScaler: init_scale must be a positive finite number, got {init_scale!r}")
        if not (isinstance(growth_factor, (int, float)) and growth_factor > 1.0):
            raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor!r}")
        if not (isinstance(backoff_factor, (int, float)) and 0.0 < backoff_factor < 1.0):
            raise ValueError(f"GradScaler: backoff_factor must lie in (0, 1), got {backoff_factor!r}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) or growth_interval < 1:
            raise ValueError(f"GradScaler: growth_interval must be a whole number >= 1, got {growth_interval!r}")
        self._enabled = bool(enabled)
        self._scale = _float32(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._optimizers: dict[int, dict[str, Any]] = {}     # id(optimizer) -> its stage and found_inf

    # ------------------------------------------------------------------ the step
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a Tensor, or tuples / lists of them) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return mul(outputs, self._scale)
        if isinstance(outputs, (tuple, list)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale: expected a Tensor or tuples / lists of them, got {type(outputs).__name__}")

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, noting any Inf or NaN.

        At most once per ``update()``, and before ``step``. The gradients are
        replaced, not written in place (the engine may share one array
        between two gradients).
        """
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = np.float32(1.0 / self._scale)    # torch: the reciprocal in float64, rounded to float32
        finite: Any = True
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                if g.dtype == np.float16:
                    raise ValueError("Attempting to unscale FP16 gradients.")
                finite = finite & backend.array_module(g).isfinite(g).all()   # stays on the device
                p.grad = Tensor._wrap(g * inv_scale)
        state["found_inf"] = not bool(finite)
        state["stage"] = _UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``optimizer.step(*args, **kwargs)`` unless the unscaled gradients hold Inf or NaN; returns its result.

        Unscales first if ``unscale_`` was not called. A closure passed as a
        keyword is refused, as by torch: it would recompute scaled gradients
        after the check. (``fit`` passes a closure that only returns the loss
        it already computed.)
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None
        if not state["found_inf"]:
            result = optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale: Optional[float] = None) -> None:
        """Adapt the scale from the steps since the last update (or set it to ``new_scale``); start a new round."""
        if not self._enabled:
            return
        if new_scale is not None:
            value = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"GradScaler.update: new_scale must be a positive finite number, got {new_scale!r}")
            self._scale = _float32(value)
        else:
            found = [s["found_inf"] for s in self._optimizers.values() if s["found_inf"] is not None]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update.")
            if any(found):
                self._scale = _float32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    grown = _float32(self._scale * self._growth_factor)
                    if math.isfinite(grown):          # never past float32's range
                        self._scale = grown
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._optimizers = {}

    def found_inf(self, optimizer: Any) -> bool:
        """Whether ``unscale_`` found Inf or NaN in ``optimizer``'s gradients this round (False before it ran)."""
        return bool(self._optimizers.get(id(optimizer), {}).get("found_inf"))

    def _state(self, optimizer: Any) -> dict:
        return self._optimizers.setdefault(id(optimizer), {"stage": _READY, "found_inf": None})

    # ------------------------------------------------------------------ settings and checkpoints
    def is_enabled(self) -> bool:
        """Whether the scaler scales at all."""
        return self._enabled

    def get_scale(self) -> float:
        """The current scale (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        """The factor the scale grows by after ``growth_interval`` good steps."""
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        """The factor the scale shrinks by after an overflow."""
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        """How many good steps in a row make the scale grow."""
        return self._growth_interval

    def state_dict(self) -> dict:
        """The scale, the factors, the interval and the count of good steps (empty when disabled), as torch names them."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()`` (this package's or torch's GradScaler's, the numbers as Python values)."""
        if not self._enabled:
            return
        if len(state) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        missing = {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"} - set(state)
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: missing {sorted(missing)}")
        self._scale = _float32(float(state["scale"]))
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(state["_growth_tracker"])

    def __repr__(self) -> str:
        return (f"GradScaler(scale={self._scale:g}, growth_factor={self._growth_factor:g}, "
                f"backoff_factor={self._backoff_factor:g}, growth_interval={self._growth_interval}, "
                f"enabled={self._enabled})")
