"""DP-SGD's gradient (Abadi et al. 2016) in front of any first-order optimizer: clip each example, sum, add noise.

    g_e <- g_e / max(1, ||g_e||_2 / C)            (each example's gradient, all parameters jointly)
    g   <- (Σ_e g_e + N(0, σ² C² I)) / n           (n examples in the batch)

then the wrapped optimizer (SGD, Adam, ...) steps on g as on any gradient.
Built by ``rg.optim.get(name, params, dp_clip=C, dp_noise=σ, dp_seed=0)`` or
``PerExampleClipping(optimizer, clip=C, noise=σ)``; ``rg.fit`` then computes the
per-example gradients in its closure (``closure_kind = "per_example"``).
Reference: M. Abadi et al., "Deep Learning with Differential Privacy", CCS 2016,
https://arxiv.org/abs/1607.00133 (Algorithm 1). This gives the mechanism only;
accounting for the privacy budget (epsilon, delta) is left to the caller.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..autograd.tensor import Tensor

PerExampleClosure = Callable[[Sequence[Tensor]], Tuple[float, List[np.ndarray]]]


class PerExampleClipping:
    """Wraps a first-order optimizer so that its gradient is DP-SGD's clipped, noised per-example mean.

    ``step(closure)`` takes a *per-example* closure: ``closure(params)`` returns
    ``(loss, grads)`` with ``grads[i]`` of shape ``(n,) + params[i].shape``, one
    row per example (``rg.per_example_grads`` computes them; ``rg.fit`` builds
    this closure itself). ``clip``: C, the bound on each example's gradient norm
    over all parameters; ``noise``: σ, the noise multiplier (the noise's standard
    deviation is σC); ``seed``: the noise generator's seed (its state is saved in
    ``state_dict``, so a resumed run draws the same noise). Hyperparameters, schedules and
    state stay the wrapped optimizer's (``param_groups``, ``state`` are its own).
    """
    closure_kind = "per_example"
    full_batch = False

    def __init__(self, optimizer: Any, clip: float, noise: float = 0.0, seed: int = 0) -> None:
        if getattr(optimizer, "closure_kind", "loss") != "loss" or getattr(optimizer, "full_batch", False):
            raise ValueError(f"per-example clipping (dp_clip) works with first-order optimizers (SGD, Adam, ...), "
                             f"not {type(optimizer).__name__}, which is full-batch or takes another closure")
        if not (isinstance(clip, (int, float)) and np.isfinite(clip) and clip > 0):
            raise ValueError(f"dp_clip must be a positive number (the bound C on each example's gradient norm), "
                             f"got {clip!r}")
        if not (isinstance(noise, (int, float)) and np.isfinite(noise) and noise >= 0):
            raise ValueError(f"dp_noise must be a number >= 0 (the noise multiplier sigma), got {noise!r}")
        self.optimizer = optimizer
        self.clip = float(clip)
        self.noise = float(noise)
        self._rng = np.random.default_rng(seed)
        self.last_clipped_fraction = 0.0           # share of the last batch's examples that were clipped

    # ------------------------------------------------------------------ the optimizer's face
    @property
    def param_groups(self) -> List[Dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def defaults(self) -> Dict[str, Any]:
        return self.optimizer.defaults

    @property
    def state(self) -> Dict[int, Any]:
        return self.optimizer.state

    def params(self) -> List[Tensor]:
        """The wrapped optimizer's parameters, in its order (the order of the closure's gradients)."""
        return self.optimizer.params()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none)

    # ------------------------------------------------------------------ the rule
    def step(self, closure: Optional[PerExampleClosure] = None) -> float:
        """Clip each example's gradient to ``clip``, sum, add N(0, (noise*clip)²), divide by n; then step."""
        if closure is None:
            raise ValueError("PerExampleClipping.step() needs a per-example closure: closure(params) -> "
                             "(loss, per-example gradients); rg.fit builds it")
        params = self.params()
        result = closure(params)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError("PerExampleClipping: the closure must return (loss, per-example gradients) "
                            "(closure_kind 'per_example'), got " + type(result).__name__)
        loss, grads = result
        grads = list(grads)
        if len(grads) != len(params):
            raise ValueError(f"PerExampleClipping: the closure gave {len(grads)} gradient arrays for "
                             f"{len(params)} parameters")
        n = grads[0].shape[0]
        for p, g in zip(params, grads):
            if g.shape != (n,) + p.shape:
                raise ValueError(f"PerExampleClipping: per-example gradient of shape {g.shape} for a "
                                 f"parameter of shape {p.shape} and {n} examples")
        for p, g in zip(params, self.private_gradient(grads)):
            p.grad = Tensor._wrap(g.astype(p.data.dtype, copy=False))
        self.optimizer.step()
        return float(loss)

    def private_gradient(self, grads: Sequence[np.ndarray]) -> List[np.ndarray]:
        """(Σ_e clip(g_e) + noise) / n for per-example gradients ``grads`` (one array (n, ...) per parameter)."""
        n = grads[0].shape[0]
        sq = np.zeros(n)
        for g in grads:
            flat = g.reshape(n, -1)
            sq += np.einsum("ij,ij->i", flat, flat, dtype=np.float64)
        norms = np.sqrt(sq)
        factor = 1.0 / np.maximum(1.0, norms / self.clip)
        self.last_clipped_fraction = float(np.mean(norms > self.clip))
        out = []
        for g in grads:
            total = (factor.astype(g.dtype) @ g.reshape(n, -1)).reshape(g.shape[1:]).astype(np.float64)
            if self.noise:
                total += self._rng.standard_normal(total.shape) * (self.noise * self.clip)
            out.append(total / n)
        return out

    # ------------------------------------------------------------------ saving
    def state_dict(self) -> Dict[str, Any]:
        """The wrapped optimizer's state dict, plus the noise generator's state under index -1 (``dp_*`` keys)."""
        out = self.optimizer.state_dict()
        st = self._rng.bit_generator.state
        out["state"].setdefault(-1, {}).update(
            dp_rng_state=st["state"]["state"], dp_rng_inc=st["state"]["inc"],
            dp_rng_has_uint32=st["has_uint32"], dp_rng_uinteger=st["uinteger"])
        return out

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        state = {k: dict(v) for k, v in state_dict["state"].items()}
        glob = state.get(-1, state.get("-1", {}))
        mine = {k: glob.pop(k) for k in list(glob) if k.startswith("dp_")}
        self.optimizer.load_state_dict(dict(state_dict, state=state))
        if mine:
            self._rng.bit_generator.state = {
                "bit_generator": "PCG64", "state": {"state": int(mine["dp_rng_state"]), "inc": int(mine["dp_rng_inc"])},
                "has_uint32": int(mine["dp_rng_has_uint32"]), "uinteger": int(mine["dp_rng_uinteger"])}

    def __repr__(self) -> str:
        return f"PerExampleClipping(clip={self.clip}, noise={self.noise},\n{self.optimizer!r})"


def with_per_example_clipping(optimizer: Any, dp_clip: Optional[float] = None, dp_noise: float = 0.0,
                              dp_seed: int = 0) -> Any:
    """``optimizer`` wrapped in ``PerExampleClipping`` when ``dp_clip`` is given (``rg.optim.get``'s dp options)."""
    if dp_clip is None:
        if dp_noise:
            raise ValueError("dp_noise needs dp_clip: the noise's scale is dp_noise * dp_clip")
        return optimizer
    return PerExampleClipping(optimizer, clip=dp_clip, noise=dp_noise, seed=dp_seed)
