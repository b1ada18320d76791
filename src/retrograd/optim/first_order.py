"""First-order gradient methods: SGD (momentum, Nesterov), AdaGrad, RMSprop, Adam/AdamW/AMSGrad, NAdam."""
import math

import numpy as np

from .hyper import Flag, Pair, Real
from .optimizer import Optimizer

RATE = Real(low=0)                     # learning rates: 0 (frozen) is allowed, as in torch.optim
BETAS = Pair(Real(0, 1, high_open=True), Real(0, 1, high_open=True), ("beta1", "beta2"))


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (Rumelhart, Hinton & Williams 1986; Sutskever et al. 2013).

        v <- momentum * v + (1 - dampening) * g          (v = g at the first step)
        p <- p - lr * (g + momentum * v)   if nesterov else   p - lr * v

    The same as ``torch.optim.SGD``. Not packed (``elementwise`` stays False): its four
    operations per element do not repay the copies in and out of a flat array.
    """
    hyperparameters = {"lr": RATE, "momentum": Real(0, 1), "dampening": Real(0, 1), "nesterov": Flag()}

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, **common):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov), **common)

    def update(self, p, g, state, group):
        mu = group["momentum"]
        if mu:
            v = state.get("momentum_buffer")
            if v is None:
                v = state["momentum_buffer"] = np.copy(g)   # np.copy, not np.array: CuPy arrays too
            else:
                v *= mu
                damp = group["dampening"]
                v += g if damp == 0 else (1.0 - damp) * g
            g = g + mu * v if group["nesterov"] else v
        p -= group["lr"] * g


class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer 2011): per-element rates shrink with the summed squared gradients.

        s <- s + g^2
        p <- p - lr_t * g / (sqrt(s) + eps),    lr_t = lr / (1 + (t - 1) * lr_decay)
    """
    hyperparameters = {"lr": RATE, "lr_decay": Real(low=0), "initial_accumulator_value": Real(low=0),
                       "eps": Real(low=0)}

    def __init__(self, params, lr=0.01, lr_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, **common):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value), **common)

    def init_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p, group["initial_accumulator_value"])}

    def update(self, p, g, state, group):
        state["step"] += 1
        lr = group["lr"] / (1.0 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        p -= lr * g / (np.sqrt(s) + group["eps"])


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012; centred form Graves 2013).

        s <- alpha * s + (1 - alpha) * g^2,   a <- alpha * a + (1 - alpha) * g   (centred only)
        d = sqrt(s - a^2) + eps (centred) or sqrt(s) + eps
        b <- momentum * b + g / d;   p <- p - lr * b     (b = g / d without momentum)
    """
    hyperparameters = {"lr": RATE, "alpha": Real(0, 1), "eps": Real(low=0), "momentum": Real(0, 1),
                       "centered": Flag()}

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, centered=False, **common):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      centered=centered), **common)

    def init_state(self, p, group):
        st = {"step": 0, "square_avg": np.zeros_like(p)}
        if group["momentum"] > 0:
            st["momentum_buffer"] = np.zeros_like(p)
        if group["centered"]:
            st["grad_avg"] = np.zeros_like(p)
        return st

    def update(self, p, g, state, group):
        alpha = group["alpha"]
        state["step"] += 1
        s = state["square_avg"]
        s *= alpha
        s += (1.0 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1.0 - alpha) * g
            d = np.sqrt(s - a * a) + group["eps"]
        else:
            d = np.sqrt(s) + group["eps"]
        if group["momentum"] > 0:
            b = state.setdefault("momentum_buffer", np.zeros_like(p))
            b *= group["momentum"]
            b += g / d
            p -= group["lr"] * b
        else:
            p -= group["lr"] * g / d


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), with the AMSGrad option (Reddi, Kale & Kumar 2018).

        m <- b1 m + (1 - b1) g,    v <- b2 v + (1 - b2) g^2,    (AMSGrad: v_max <- max(v_max, v))
        p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)

    ``weight_decay`` is L2 (added to g), as in ``torch.optim.Adam``; AdamW decouples it.
    """
    hyperparameters = {"lr": RATE, "betas": BETAS, "eps": Real(low=0), "amsgrad": Flag()}
    elementwise = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, amsgrad=False, **common):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, amsgrad=amsgrad), **common)

    def init_state(self, p, group):
        st = {"step": 0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = np.zeros_like(p)
        return st

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        t = state["step"] = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        if group["amsgrad"]:
            v_max = state.get("max_exp_avg_sq")
            if v_max is None:                    # a state saved without amsgrad
                v_max = state["max_exp_avg_sq"] = np.zeros_like(p)
            np.maximum(v_max, v, out=v_max)
            v = v_max
        # math.sqrt, not np.sqrt: a NumPy float64 scalar would lift the whole update to float64
        denom = np.sqrt(v) / math.sqrt(1.0 - b2 ** t) + group["eps"]
        p -= (group["lr"] / (1.0 - b1 ** t)) * m / denom


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.

        p <- p * (1 - lr * weight_decay),   then the Adam update.
    """
    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 **common):
        super().__init__(params, lr=lr, betas=betas, eps=eps, amsgrad=amsgrad, weight_decay=weight_decay,
                         **common)


class AMSGrad(Adam):
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam with the running maximum of v, ``Adam(amsgrad=True)``."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **common):
        super().__init__(params, lr=lr, betas=betas, eps=eps, amsgrad=True, **common)


class NAdam(Optimizer):
    """NAdam (Dozat 2016): Adam with Nesterov momentum and the momentum schedule of ``torch.optim.NAdam``.

        mu_t = b1 (1 - 0.5 * 0.96^(t psi)),   P_t = prod_{i<=t} mu_i
        m, v as Adam;   d = sqrt(v / (1 - b2^t)) + eps
        p <- p - lr (1 - mu_t) / (1 - P_t) * g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d
    """
    hyperparameters = {"lr": RATE, "betas": BETAS, "eps": Real(low=0), "momentum_decay": Real(low=0)}

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3, **common):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, momentum_decay=momentum_decay),
                         **common)

    def init_state(self, p, group):
        return {"step": 0, "mu_product": 1.0, "exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        psi, lr = group["momentum_decay"], group["lr"]
        t = state["step"] = state["step"] + 1
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        prod = state["mu_product"] = state["mu_product"] * mu
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * g * g
        d = np.sqrt(v / (1.0 - b2 ** t)) + group["eps"]
        p -= (lr * (1.0 - mu) / (1.0 - prod)) * g / d
        p -= (lr * mu_next / (1.0 - prod * mu_next)) * m / d
