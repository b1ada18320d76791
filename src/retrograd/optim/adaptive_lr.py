"""Adaptive learning-rate classics: bold driver (MATLAB traingda/traingdx), delta-bar-delta, SuperSAB."""
import numpy as np

from ..autograd.tensor import Tensor
from .hyper import Real
from .optimizer import Optimizer


class BoldDriver(Optimizer):
    """Bold driver / MATLAB ``traingda`` (``traingdx`` with momentum > 0) (Vogl et al. 1988; Battiti 1989).

        dw = momentum * dw' - (1 - momentum) * lr * g;   try p + dw and evaluate E_new
        E_new > max_perf_inc * E:  reject the step, lr <- lr * lr_dec (and drop the momentum)
        otherwise accept;  and if E_new < E:  lr <- lr * lr_inc

    ``step(closure)`` needs the closure: it evaluates the loss at the trial point.
    The returned loss is that of the parameters kept after the step.
    """
    full_batch = True
    hyperparameters = {"lr": Real(low=0), "lr_inc": Real(low=1), "lr_dec": Real(0, 1, low_open=True),
                       "max_perf_inc": Real(low=1), "momentum": Real(0, 1)}

    def __init__(self, params, lr=0.01, lr_inc=1.05, lr_dec=0.7, max_perf_inc=1.04, momentum=0.0, **common):
        super().__init__(params, dict(lr=lr, lr_inc=lr_inc, lr_dec=lr_dec, max_perf_inc=max_perf_inc,
                                      momentum=momentum), **common)
        self._loss = None

    def step(self, closure=None):
        if closure is None:
            raise ValueError("BoldDriver.step() needs a closure: it compares the loss before and after the "
                             "trial step")
        if self._loss is None:
            self._loss = float(self._evaluate(closure))
            self._keep_gradients()
        loss = self._loss
        saved = []
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(id(p))
                if st is not None and "grad" in st:    # the gradient at the accepted point (survives a reload)
                    p.grad = Tensor._wrap(st["grad"].copy())
            params, grads = self.gradients(group)
            for p, g in zip(params, grads):
                st = self.state[id(p)]
                mc = group["momentum"]
                delta = mc * st["delta"] - (1.0 - mc) * group["lr"] * g
                saved.append((p, p.data.copy(), st, st["delta"]))
                p.data += delta
                st["delta"] = delta.astype(p.dtype, copy=False)
        new = float(self._evaluate(closure))
        if not new <= loss * self.param_groups[0]["max_perf_inc"]:   # also rejects NaN
            for p, data, st, delta in saved:
                p.data[...] = data
                p.grad = Tensor._wrap(st["grad"].copy())
                st["delta"] = np.zeros_like(delta)
            for group in self.param_groups:
                group["lr"] *= group["lr_dec"]
            return loss
        if new < loss:
            for group in self.param_groups:
                group["lr"] *= group["lr_inc"]
        self._loss = new
        self._keep_gradients()
        return new

    def _keep_gradients(self):
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.setdefault(id(p), {"delta": np.zeros_like(p.data)})
                if p.grad is not None:
                    st["grad"] = p.grad.data.copy()

    def _global_state(self):
        return {"loss": self._loss} if self._loss is not None else {}

    def _load_global_state(self, state):
        self._loss = state.get("loss")


class DeltaBarDelta(Optimizer):
    """Delta-bar-delta (Jacobs 1988): a learning rate per weight, raised additively, cut geometrically.

        e <- e + kappa   if  bar_g' * g > 0;     e <- e * (1 - phi)   if  bar_g' * g < 0
        bar_g <- (1 - theta) * g + theta * bar_g'
        dw = momentum * dw' - e * g
    """
    full_batch = True
    hyperparameters = {"lr": Real(low=0), "kappa": Real(low=0), "phi": Real(0, 1), "theta": Real(0, 1),
                       "momentum": Real(0, 1)}

    def __init__(self, params, lr=0.01, kappa=1e-3, phi=0.1, theta=0.7, momentum=0.0, **common):
        super().__init__(params, dict(lr=lr, kappa=kappa, phi=phi, theta=theta, momentum=momentum), **common)

    def init_state(self, p, group):
        return {"rate": np.full_like(p, group["lr"]), "bar": np.zeros_like(p), "delta": np.zeros_like(p)}

    def update(self, p, g, state, group):
        rate, bar = state["rate"], state["bar"]
        agree = bar * g
        rate[agree > 0] += group["kappa"]
        rate[agree < 0] *= 1.0 - group["phi"]
        bar *= group["theta"]
        bar += (1.0 - group["theta"]) * g
        delta = group["momentum"] * state["delta"] - rate * g
        p += delta
        state["delta"] = delta


class SuperSAB(Optimizer):
    """SuperSAB (Tollenaere 1990): per-weight rates grown by eta_plus, cut by eta_minus with step undo.

        g * g' > 0:  e <- e * eta_plus;   dw = -e * g + momentum * dw'
        g * g' < 0:  e <- e * eta_minus;  dw = -dw'   (undo the last step), and g is forgotten
        otherwise:   dw = -e * g + momentum * dw'
    """
    full_batch = True
    hyperparameters = {"lr": Real(low=0), "eta_plus": Real(low=1), "eta_minus": Real(0, 1, low_open=True),
                       "momentum": Real(0, 1), "max_lr": Real(low=0, low_open=True, none=True, inf=True)}

    def __init__(self, params, lr=0.01, eta_plus=1.05, eta_minus=0.5, momentum=0.0, max_lr=None, **common):
        super().__init__(params, dict(lr=lr, eta_plus=eta_plus, eta_minus=eta_minus, momentum=momentum,
                                      max_lr=max_lr), **common)

    def init_state(self, p, group):
        return {"rate": np.full_like(p, group["lr"]), "prev": np.zeros_like(p), "delta": np.zeros_like(p)}

    def update(self, p, g, state, group):
        rate = state["rate"]
        prod = g * state["prev"]
        flipped = prod < 0
        rate[prod > 0] *= group["eta_plus"]
        rate[flipped] *= group["eta_minus"]
        if group["max_lr"] is not None:
            np.minimum(rate, group["max_lr"], out=rate)
        delta = group["momentum"] * state["delta"] - rate * g
        delta[flipped] = -state["delta"][flipped]
        p += delta
        state["delta"] = delta
        state["prev"] = np.where(flipped, 0.0, g).astype(p.dtype, copy=False)
