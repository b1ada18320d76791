"""L-BFGS (Liu & Nocedal 1989) with an optional strong-Wolfe line search, on the flat parameter vector."""
import numpy as np

from ..autograd.ops.registry import Accelerated
from .flat import FlatParams
from .hyper import OneOf, Real, Whole
from .line_search import strong_wolfe
from .optimizer import Optimizer


def _two_loop(q, h_diag, dirs, stps, ro):
    """d = H q by the two-loop recursion over the stored pairs (Nocedal & Wright, algorithm 7.4).

    The coefficients are Python floats (a host read each on the GPU;
    ``retrograd.accel.cuda_optim`` keeps them on the device there).
    """
    al = [0.0] * len(dirs)
    q = q.copy()
    for i in range(len(dirs) - 1, -1, -1):
        al[i] = float(stps[i].dot(q)) * ro[i]
        q -= al[i] * dirs[i]
    r = q * h_diag
    for i in range(len(dirs)):
        be = float(dirs[i].dot(r)) * ro[i]
        r += (al[i] - be) * stps[i]
    return r


two_loop = Accelerated(_two_loop)


class LBFGS(Optimizer):
    """Limited-memory BFGS; one ``step(closure)`` runs up to ``max_iter`` iterations.

        d = -H g   (two-loop recursion over the last ``history_size`` pairs s = x' - x, y = g' - g,
                    initial H = (s.y / y.y) I)
        x <- x + t d,   t from the strong-Wolfe search (or t = lr without one)

    Same algorithm, defaults and stopping rules as ``torch.optim.LBFGS`` (which
    follows minFunc): stops when max |g| <= tolerance_grad, when the step or the
    loss change is below tolerance_change, or after max_iter / max_eval.
    Only one parameter group. ``state_dict`` stores the history, so a resumed run
    continues identically.
    """
    full_batch = True
    hyperparameters = {"lr": Real(low=0, low_open=True), "max_iter": Whole(1), "max_eval": Whole(1, none=True),
                       "tolerance_grad": Real(low=0), "tolerance_change": Real(low=0),
                       "history_size": Whole(1), "line_search_fn": OneOf(None, "strong_wolfe")}

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS works on one parameter group (the flat vector of all parameters)")
        self._flat = FlatParams(self.param_groups[0]["params"])
        self._s = {"func_evals": 0, "n_iter": 0}
        self._dirs, self._stps, self._ro = [], [], []

    def _eval(self, closure):
        loss = float(self._evaluate(closure))
        return loss, self._flat.grad()

    def step(self, closure):
        if closure is None:
            raise ValueError("LBFGS.step() needs a closure that zeroes the grads, computes the loss, calls "
                             "backward() and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change, history = group["tolerance_grad"], group["tolerance_change"], group["history_size"]
        flat, st = self._flat, self._s
        orig_loss, g = self._eval(closure)
        loss = orig_loss
        evals = 1
        st["func_evals"] += 1
        if np.abs(g).max() <= tol_grad:
            return orig_loss
        d, t = st.get("d"), st.get("t")
        prev_g, prev_loss = st.get("prev_flat_grad"), st.get("prev_loss")
        dirs, stps, ro = self._dirs, self._stps, self._ro
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            st["n_iter"] += 1
            if st["n_iter"] == 1:
                d = -g
                dirs.clear(); stps.clear(); ro.clear()
                st["H_diag"] = 1.0
            else:
                y = g - prev_g
                s = d * t
                ys = float(y.dot(s))
                if ys > 1e-10:                     # keep the pair only if it keeps H positive definite
                    if len(dirs) == history:
                        dirs.pop(0); stps.pop(0); ro.pop(0)
                    dirs.append(y); stps.append(s); ro.append(1.0 / ys)
                    st["H_diag"] = ys / float(y.dot(y))
                d = two_loop(-g, st["H_diag"], self._dirs, self._stps, self._ro)
            prev_g = g.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(np.abs(g).sum())) * lr if st["n_iter"] == 1 else lr
            gtd = float(g.dot(d))
            if gtd > -tol_change:
                break
            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = flat.get()

                def evaluate(step, x0=x0, d=d):
                    flat.add(step, d)
                    out = self._eval(closure)
                    flat.set(x0)
                    return out
                loss, g, t, ls_evals = strong_wolfe(evaluate, t, d, loss, g, gtd, max_ls=max_eval - evals)
                flat.add(t, d)
                opt_cond = np.abs(g).max() <= tol_grad
            else:
                flat.add(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss, g = self._eval(closure)
                    opt_cond = np.abs(g).max() <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            st["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        st.update(d=d, t=t, prev_flat_grad=prev_g, prev_loss=prev_loss)
        return orig_loss

    @property
    def n_iter(self):
        return self._s["n_iter"]

    @property
    def func_evals(self):
        return self._s["func_evals"]

    def _global_state(self):
        out = {k: v for k, v in self._s.items() if v is not None}
        if self._dirs:
            out["old_dirs"] = np.stack(self._dirs)
            out["old_stps"] = np.stack(self._stps)
            out["ro"] = np.array(self._ro)
        return out

    def _load_global_state(self, state):
        self._dirs = list(state.pop("old_dirs", []))
        self._stps = list(state.pop("old_stps", []))
        self._ro = [float(r) for r in state.pop("ro", [])]
        self._s = dict(state)
