"""Nonlinear conjugate gradient (FR, PR+, HS with Powell restarts) and scaled conjugate gradient (Møller 1993)."""
import numpy as np

from .flat import FlatParams
from .hyper import OneOf, Real, Whole
from .line_search import strong_wolfe
from .optimizer import Optimizer


class _FlatMethod(Optimizer):
    """Shared plumbing of full-batch methods that work on the flat parameter vector with a loss closure."""
    full_batch = True

    def __init__(self, params, defaults):
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} works on one parameter group (the flat parameter vector)")
        self._flat = FlatParams(self.param_groups[0]["params"])
        self._s = {}

    def _eval(self, closure):
        if closure is None:
            raise ValueError(f"{type(self).__name__}.step() needs a closure that zeroes the grads, computes the "
                             "loss, calls backward() and returns the loss")
        loss = float(self._evaluate(closure))
        return loss, self._flat.grad()

    def _global_state(self):
        return dict(self._s)

    def _load_global_state(self, state):
        self._s = dict(state)


class ConjugateGradient(_FlatMethod):
    """Nonlinear conjugate gradient with a strong-Wolfe line search; one ``step`` is one iteration.

        d = -g + beta d',   beta_FR = g.g / g'.g'           (Fletcher & Reeves 1964)
                            beta_PR+ = max(0, g.(g - g') / g'.g')   (Polak & Ribière 1969; Gilbert & Nocedal 1992)
                            beta_HS = max(0, g.(g - g') / d'.(g - g'))   (Hestenes & Stiefel 1952)
        restart (beta = 0) when |g.g'| >= 0.2 g.g (Powell 1977) or d is not a descent direction

    The first trial step is ``lr`` scaled to the gradient (as L-BFGS), later ones
    t' g'.d' / g.d (Nocedal & Wright 3.60). ``c2 = 0.1`` makes the search near-exact, as CG needs.
    """
    hyperparameters = {"lr": Real(low=0, low_open=True), "beta": OneOf("fr", "pr+", "hs"),
                       "c1": Real(0, 1, low_open=True, high_open=True),
                       "c2": Real(0, 1, low_open=True, high_open=True), "restart": Real(low=0),
                       "max_ls": Whole(1)}

    def __init__(self, params, lr=1.0, beta="pr+", c1=1e-4, c2=0.1, restart=0.2, max_ls=25):
        if not c1 < c2:
            raise ValueError(f"ConjugateGradient: the Wolfe constants need c1 < c2, got c1={c1}, c2={c2}")
        super().__init__(params, dict(lr=lr, beta=beta, c1=c1, c2=c2, restart=restart, max_ls=max_ls))

    def step(self, closure):
        group, s = self.param_groups[0], self._s
        loss, g = self._eval(closure)
        d = -g
        g_prev, d_prev = s.get("g"), s.get("d")
        if g_prev is not None:
            gg_prev = float(g_prev.dot(g_prev))
            y = g - g_prev
            kind = group["beta"]
            if kind == "fr":
                beta = float(g.dot(g)) / gg_prev
            elif kind == "pr+":
                beta = max(0.0, float(g.dot(y)) / gg_prev)
            else:
                denom = float(d_prev.dot(y))
                beta = max(0.0, float(g.dot(y)) / denom) if denom != 0 else 0.0
            if abs(float(g.dot(g_prev))) >= group["restart"] * float(g.dot(g)):
                beta = 0.0
            d = -g + beta * d_prev
        gtd = float(g.dot(d))
        if gtd >= 0:
            d, gtd = -g, -float(g.dot(g))
        if gtd == 0:
            return loss
        t = s["t"] * s["gtd"] / gtd if "t" in s and "gtd" in s else 0.0
        if not 0.0 < t < float("inf"):
            t = min(1.0, 1.0 / float(np.abs(g).sum())) * group["lr"]
        x0 = self._flat.get()

        def evaluate(step):
            self._flat.set(x0 + step * d)
            return self._eval(closure)
        _, _, t, _ = strong_wolfe(evaluate, t, d, loss, g, gtd, c1=group["c1"], c2=group["c2"],
                                  max_ls=group["max_ls"])
        self._flat.set(x0 + t * d)
        s.update(g=g, d=d, t=float(t), gtd=gtd)
        return loss


class ScaledConjugateGradient(_FlatMethod):
    """Scaled conjugate gradient (Møller 1993, as MATLAB trainscg / Netlab scg): no line search.

        s = (g(x + sigma d) - g(x)) / sigma,   sigma = sigma0 / |d|    (curvature along d)
        delta = d.s + lambda |d|²  (made positive by raising lambda);   alpha = -g.d / delta
        Delta = 2 (E(x + alpha d) - E(x)) / (alpha g.d):  accept if >= 0;  lambda x4 if < 0.25, /2 if > 0.75
        d <- -g_new + beta d,  beta = (g_old - g_new).g_new / (-g_old.d)   (restart every P steps)

    One ``step`` is one iteration (two loss-and-gradient evaluations).
    """
    hyperparameters = {"sigma": Real(low=0, low_open=True), "lambda_": Real(low=0, low_open=True),
                       "lambda_min": Real(low=0), "lambda_max": Real(low=0, low_open=True, inf=True)}

    def __init__(self, params, sigma=5e-5, lambda_=5e-7, lambda_min=1e-15, lambda_max=1e100):
        if not lambda_min <= lambda_max:
            raise ValueError(f"ScaledConjugateGradient: need lambda_min <= lambda_max, got "
                             f"{lambda_min} and {lambda_max}")
        super().__init__(params, dict(sigma=sigma, lambda_=lambda_, lambda_min=lambda_min,
                                      lambda_max=lambda_max))

    def step(self, closure):
        group, s = self.param_groups[0], self._s
        x = self._flat.get()
        if "g" not in s:
            f, g = self._eval(closure)
            s.update(f=f, g=g, d=-g, success=1, nsuccess=0, lam=group["lambda_"])
        f, g, d, lam = s["f"], s["g"], s["d"], s["lam"]
        if s["success"]:
            mu = float(d.dot(g))
            if mu >= 0:
                d = -g
                mu = float(d.dot(g))
            kappa = float(d.dot(d))
            if kappa < np.finfo(float).eps:
                return f
            sigma = group["sigma"] / np.sqrt(kappa)
            self._flat.set(x + sigma * d)
            _, g_plus = self._eval(closure)
            s.update(mu=mu, kappa=kappa, gamma=float(d.dot(g_plus - g)) / sigma)
        mu, kappa, gamma = s["mu"], s["kappa"], s["gamma"]
        delta = gamma + lam * kappa
        if delta <= 0:
            delta = lam * kappa
            lam = lam - gamma / kappa
        alpha = -mu / delta
        x_new = x + alpha * d
        self._flat.set(x_new)
        f_new, g_new = self._eval(closure)
        Delta = 2.0 * (f_new - f) / (alpha * mu)
        success = Delta >= 0
        if success:
            s["nsuccess"] += 1
        else:
            self._flat.set(x)
        if Delta < 0.25:
            lam = min(4.0 * lam, group["lambda_max"])
        elif Delta > 0.75:
            lam = max(0.5 * lam, group["lambda_min"])
        if success:
            if s["nsuccess"] >= self._flat.n:
                d = -g_new
                s["nsuccess"] = 0
            else:
                beta = float((g - g_new).dot(g_new)) / mu
                d = beta * d - g_new
            s.update(f=f_new, g=g_new)
        s.update(d=d, lam=lam, success=int(success))
        return f
