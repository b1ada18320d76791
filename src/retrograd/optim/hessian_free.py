"""Hessian-free / truncated Newton (Martens 2010): CG on damped Gauss–Newton or Hessian products from the engine."""
import numpy as np

from ..autograd.engine import compute_grads
from ..autograd.factories import tensor as _tensor
from ..autograd.tensor import enable_grad
from .flat import FlatParams
from .jacobian import residual_jacobian
from .hyper import OneOf, Real, Whole
from .levenberg_marquardt import LevenbergMarquardt


class HessianFree(LevenbergMarquardt):
    """Truncated Newton on E = ½ Σ w_i r_i², never forming the curvature matrix (Martens 2010).

        solve (B + lambda I) p = -g by conjugate gradient, B v = Jᵀ(J v) (Gauss–Newton, default)
                                                            or  ∇²E v  (exact, ``curvature="hessian"``)
        rho = (E(x + p) - E(x)) / q(p);   lambda x 3/2 if rho < 1/4,  x 2/3 if rho > 3/4
        CG starts from 0.95 times the last solution, stops on Martens' relative-progress test, and
        is backtracked: the best of the saved iterates (i = ceil(1.3^k)) by E; then a backtracking
        line search on the step.

    Products come from the engine: J v by the double-VJP trick and Jᵀu by a retained backward
    (two sweeps per CG iteration), or ∇²E v by one backward through a ``create_graph`` gradient.
    ``preconditioner="martens"`` uses (diag(Σ_i (r_i ∇r_i)²) + lambda)^0.75, which needs
    the per-sample Jacobian. The closure is a residual closure, as for LM.
    """
    hyperparameters = {"lambda_": Real(low=0, low_open=True), "curvature": OneOf("gn", "hessian"),
                       "max_cg": Whole(1), "min_cg": Whole(1), "cg_decay": Real(0, 1),
                       "preconditioner": OneOf(None, "martens")}

    def __init__(self, params, lambda_=1.0, curvature="gn", max_cg=250, min_cg=1, cg_decay=0.95,
                 preconditioner=None, error_weights=None):
        if not min_cg <= max_cg:
            raise ValueError(f"HessianFree: need min_cg <= max_cg, got {min_cg} and {max_cg}")
        super().__init__(params, error_weights=error_weights)
        self.param_groups[0].update(lambda_=lambda_, curvature=curvature, max_cg=max_cg, min_cg=min_cg,
                                    cg_decay=cg_decay, preconditioner=preconditioner)
        self.defaults.update(self.param_groups[0])
        del self.defaults["params"]
        self._init = None

    # ------------------------------------------------------------ curvature products
    def _products(self, r, sw):
        """(gradient, function v -> B v) at the current point, from the residual graph r."""
        params = self._flat.params
        flat = self._flat
        rw = r.data.reshape(r.shape) if sw is None else r.data * (sw ** 2).reshape(r.shape)
        if self.param_groups[0]["curvature"] == "hessian":
            with enable_grad():
                w = 1.0 if sw is None else _tensor((sw ** 2).reshape(r.shape))
                E = 0.5 * (w * r * r).sum()
                grads = compute_grads([E], [None], inputs=params, create_graph=True, accumulate=False)
            g = np.concatenate([gr.data.ravel() for gr in grads])

            def Bv(v):
                parts = flat.split(v)
                hv = compute_grads(grads, parts, inputs=params, retain_graph=True, accumulate=False)
                return np.concatenate([h.data.ravel() if h is not None else _zeros_of(p)
                                       for h, p in zip(hv, params)])
            return g, Bv
        # Gauss–Newton: Jᵀu recorded as a function of a dummy cotangent u, so that J v = d(Jᵀu . v)/du
        with enable_grad():
            u = _tensor(np.zeros_like(r.data), requires_grad=True)
            jtu = compute_grads([r], [u], inputs=params, create_graph=True, retain_graph=True, accumulate=False)
        g = np.concatenate([gr.data.ravel() for gr in compute_grads([r], [rw], inputs=params,
                                                                     retain_graph=True, accumulate=False)])
        wsq = None if sw is None else (sw ** 2).reshape(r.shape)

        def Bv(v):
            jv = compute_grads(jtu, flat.split(v), inputs=[u], retain_graph=True, accumulate=False)[0].data
            if wsq is not None:
                jv = jv * wsq
            out = compute_grads([r], [jv], inputs=params, retain_graph=True, accumulate=False)
            return np.concatenate([o.data.ravel() if o is not None else _zeros_of(p)
                                   for o, p in zip(out, params)])
        return g, Bv

    # ------------------------------------------------------------ CG
    def _cg(self, Bv, g, lam, x0, M, max_cg, min_cg):
        """Preconditioned CG on (B + lam I) p = -g from x0; returns the saved iterates, last one included."""
        x = x0.copy()
        r = Bv(x) + lam * x + g
        y = r / M
        d = -y
        ry = float(r.dot(y))
        saves, phis = [], []
        save_at = 1
        for i in range(1, max_cg + 1):
            Ad = Bv(d) + lam * d
            dAd = float(d.dot(Ad))
            if dAd <= 0:
                break
            alpha = ry / dAd
            x = x + alpha * d
            r = r + alpha * Ad
            y = r / M
            ry_new = float(r.dot(y))
            d = -y + (ry_new / ry) * d
            ry = ry_new
            phis.append(0.5 * float(x.dot(r - g)) + float(g.dot(x)))   # ½xᵀAx + gᵀx, using r = Ax + g
            if i >= save_at:
                saves.append(x)
                save_at = int(np.ceil(save_at * 1.3))
            k = max(10, i // 10)
            if i > k and i >= min_cg and phis[-1] < 0:
                if (phis[-1] - phis[-1 - k]) / phis[-1] < k * 5e-4:
                    break
            if ry < 1e-30:
                break
        if not saves or saves[-1] is not x:
            saves.append(x)
        return saves

    def step(self, closure):
        if closure is None:
            raise ValueError("HessianFree.step() needs a closure returning the residual tensor")
        group = self.param_groups[0]
        r = self._residuals(closure, graph=True)
        sw = self._weights(r)
        sw = None if sw is None else np.sqrt(sw)
        E = self._energy(r, sw)
        g, Bv = self._products(r, sw)
        lam = group["lambda_"]
        M = np.ones_like(g)
        if group["preconditioner"] == "martens":
            J = residual_jacobian(r, self._flat.params)
            rv = r.data.reshape(-1) * (1.0 if sw is None else sw ** 2)
            M = ((J * rv[:, None]) ** 2).sum(axis=0) + lam
            M = M ** 0.75
        x_start = self._init if self._init is not None else np.zeros_like(g)
        x_start = group["cg_decay"] * x_start
        saves = self._cg(Bv, g, lam, x_start, M, group["max_cg"], group["min_cg"])
        x0 = self._flat.get()

        def energy(p):
            self._flat.set(x0 + p.astype(x0.dtype))
            return self._energy(self._residuals(closure, graph=False), sw)
        # CG backtracking: walk back from the last iterate while E keeps improving
        best, best_E = saves[-1], energy(saves[-1])
        for p in reversed(saves[:-1]):
            e = energy(p)
            if e >= best_E:
                break
            best, best_E = p, e
        self._init = best
        q = 0.5 * float(best.dot(Bv(best))) + float(g.dot(best))
        rho = (best_E - E) / q if q < 0 else -np.inf
        if rho < 0.25:
            group["lambda_"] = lam * 1.5
        elif rho > 0.75:
            group["lambda_"] = lam * (2.0 / 3.0)
        # backtracking line search on the chosen step (Martens 2010, section 4.7)
        rate, c = 1.0, 1e-2
        gp = float(g.dot(best))
        while best_E > E + c * rate * gp and rate > 1e-4:
            rate *= 0.8
            best_E = energy(rate * best)
        if best_E > E:
            self._flat.set(x0)
            self._init = None
        else:
            self._flat.set(x0 + (rate * best).astype(x0.dtype))
            self.n_iter += 1
        return E

    def _global_state(self):
        out = super()._global_state()
        if self._init is not None:
            out["cg_init"] = self._init.copy()
        return out

    def _load_global_state(self, state):
        super()._load_global_state(state)
        self._init = state.get("cg_init")


def _zeros_of(p):
    """float64 zeros for a parameter without a gradient, on its device (NumPy or CuPy)."""
    return np.zeros_like(p.data, dtype=np.float64, shape=(p.data.size,))
