"""The Rprop family (Riedmiller & Braun 1993; Igel & Hüsken 2000): sign-based steps with per-weight sizes."""
import numpy as np

from .. import backend
from .hyper import Pair, Real
from .optimizer import Optimizer


class _RpropBase(Optimizer):
    """Shared step-size adaptation; subclasses differ in what happens after a sign change.

        s = sign(g_t * g_{t-1});   D <- min(D * eta_plus, D_max) if s > 0;   max(D * eta_minus, D_min) if s < 0
        dw = -sign(g) * D;         p <- p + dw

    Then, on a sign change:  Rprop+  takes back the last step and forgets g;
    Rprop-  steps anyway;  iRprop-  forgets g (no step);  iRprop+  takes back the
    last step only if the loss rose (needs a closure), and forgets g.
    """
    full_batch = True
    backtrack = False        # undo the previous step on a sign change
    forget = False           # treat g as 0 after a sign change (no step, and no adaptation next time)
    needs_loss = False       # iRprop+: backtracking depends on whether the loss went up
    hyperparameters = {
        "lr": Real(low=0, low_open=True),
        "etas": Pair(Real(0, 1, low_open=True, high_open=True), Real(low=1, low_open=True),
                     ("eta_minus", "eta_plus")),
        "step_sizes": Pair(Real(low=0), Real(low=0, inf=True), ("min", "max"), ordered=True)}

    def __init__(self, params, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), **common):
        """``lr`` is the initial step size D_0 (torch's name; Riedmiller & Braun use 0.1)."""
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes)), **common)
        self._worse = False
        self._last_loss = None

    def step(self, closure=None):
        loss = None
        if closure is not None:
            loss = float(self._evaluate(closure))
        if self.needs_loss:
            if loss is None:
                raise ValueError(f"{type(self).__name__}.step() needs a closure: its backtracking compares "
                                 "the loss with the previous one")
            self._worse = self._last_loss is not None and loss > self._last_loss
            self._last_loss = loss
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def init_state(self, p, group):
        return {"step": 0, "prev": np.zeros_like(p), "step_size": np.full_like(p, group["lr"]),
                "delta": np.zeros_like(p)}

    def update(self, p, g, state, group):
        etam, etap = group["etas"]
        lo, hi = group["step_sizes"]
        state["step"] += 1
        prod = g * state["prev"]
        size = state["step_size"]
        self._adapt_sizes(size, prod, state, group)
        np.clip(size, lo, hi, out=size)          # last, so that nothing a subclass adds escapes the bounds
        flipped = prod < 0
        delta = -np.sign(g) * size
        if self.forget or self.backtrack:
            g = np.where(flipped, 0.0, g).astype(p.dtype, copy=False)
            delta[flipped] = 0.0
        if self.backtrack and (not self.needs_loss or self._worse):
            delta[flipped] = -state["delta"][flipped]
        p += delta
        state["delta"] = delta
        state["prev"] = g.copy()           # copy(): NumPy or CuPy alike

    def _adapt_sizes(self, size, prod, state, group):
        """D *= eta_plus where the gradient kept its sign, eta_minus where it changed (bounds applied after)."""
        etam, etap = group["etas"]
        size[prod > 0] *= etap
        size[prod < 0] *= etam

    def _global_state(self):
        return {"last_loss": self._last_loss} if self._last_loss is not None else {}

    def _load_global_state(self, state):
        self._last_loss = state.get("last_loss")


class RpropPlus(_RpropBase):
    """Rprop+ : Rprop with weight backtracking (Riedmiller & Braun 1993)."""
    backtrack = True


class RpropMinus(_RpropBase):
    """Rprop- : Rprop without backtracking; steps on the new sign even after a change (Igel & Hüsken 2000)."""


class IRpropPlus(_RpropBase):
    """iRprop+ : backtrack only when the loss increased (Igel & Hüsken 2000); ``step`` needs a closure."""
    backtrack = True
    needs_loss = True


class IRpropMinus(_RpropBase):
    """iRprop- : forget the gradient after a sign change, no backtracking. This is ``torch.optim.Rprop``."""
    forget = True


class Sarprop(_RpropBase):
    """SARPROP (Treadgold & Gedeon 1998): Rprop- with a weight-decay-like term and annealed noise.

        SA = 2^(-T t);   g' = g + k1 * w * SA   (sign adaptation on g')
        same sign:    D <- D * eta_plus
        sign change:  D <- D * eta_minus + k3 * r * err^2 * SA   if D < k2 * err^2   (D before the decrease)
                      D <- D * eta_minus                         otherwise;   r ~ U(0, 1)
        D <- clip(D, D_min, D_max)   (after the noise: no step size leaves ``step_sizes``)

    ``err`` is the RMS error passed as the closure's loss; ``seed`` fixes the noise.
    (Clamping before the noise, as this class once did, let the noise lift step sizes
    to 1e8 within ten epochs of a 1-8-1 sin fit: issue #13, item 10.)
    """
    needs_loss = True
    forget = True
    hyperparameters = {"k1": Real(low=0), "k2": Real(low=0), "k3": Real(low=0), "temperature": Real(low=0)}

    def __init__(self, params, lr=0.1, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0), k1=1e-6, k2=0.4, k3=0.8,
                 temperature=0.015, seed=0, **common):
        super().__init__(params, lr=lr, etas=etas, step_sizes=step_sizes, **common)
        for g in self.param_groups:
            g.update(k1=g.get("k1", k1), k2=g.get("k2", k2), k3=g.get("k3", k3),
                     temperature=g.get("temperature", temperature))
        self.defaults.update(k1=k1, k2=k2, k3=k3, temperature=temperature)
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def _anneal(group, t):
        return 2.0 ** (-group["temperature"] * t)

    def update(self, p, g, state, group):
        g = g + group["k1"] * p * self._anneal(group, state["step"] + 1)
        super().update(p, g, state, group)

    def _adapt_sizes(self, size, prod, state, group):
        err2 = (self._last_loss or 0.0) ** 2
        noisy = (prod < 0) & (size < group["k2"] * err2)      # decided on the step size before the decrease
        super()._adapt_sizes(size, prod, state, group)
        if noisy.any():
            # drawn on the host from the saved stream, so a run gives the same noise on any device
            noise = backend.to_device(self._rng.random(int(noisy.sum())), backend.device_of(size))
            size[noisy] += group["k3"] * noise * err2 * self._anneal(group, state["step"])

    def _global_state(self):
        out = super()._global_state()
        st = self._rng.bit_generator.state        # PCG64: two 128-bit ints and a buffered word
        out.update(rng_state=st["state"]["state"], rng_inc=st["state"]["inc"], rng_has_uint32=st["has_uint32"],
                   rng_uinteger=st["uinteger"])
        return out

    def _load_global_state(self, state):
        super()._load_global_state(state)
        if "rng_state" in state:
            self._rng.bit_generator.state = {
                "bit_generator": "PCG64", "state": {"state": int(state["rng_state"]), "inc": int(state["rng_inc"])},
                "has_uint32": int(state["rng_has_uint32"]), "uinteger": int(state["rng_uinteger"])}
