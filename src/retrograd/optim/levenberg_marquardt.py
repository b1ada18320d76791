"""Levenberg–Marquardt (MATLAB trainlm) and Bayesian regularisation (MATLAB trainbr) on residual closures."""
import numpy as np

from ..autograd.tensor import Tensor, enable_grad, no_grad
from .flat import FlatParams
from .jacobian import residual_jacobian
from .optimizer import Optimizer


class LevenbergMarquardt(Optimizer):
    """Levenberg–Marquardt for E = ½ Σ w_i r_i² (Levenberg 1944; Marquardt 1963; Hagan & Menhaj 1994).

        (JᵀWJ + mu I) dx = -JᵀW r;   accept x + dx if E falls (mu <- mu * mu_dec),
        else mu <- mu * mu_inc and solve again (until mu > mu_max)

    The closure returns the residual tensor r (any shape; batch first), with its
    graph and WITHOUT calling backward; J comes from one per-sample backward sweep
    (see ``jacobian.py``). ``error_weights`` (same size as r, or one per sample) give
    the w_i. One ``step`` is one Jacobian; it returns E before the step. Defaults are
    trainlm's. When there are fewer residuals than weights the solve is done in the
    N x N dual form, Jᵀ(JJᵀ + mu I)⁻¹, which is the same step.
    """
    full_batch = True
    closure_kind = "residuals"

    def __init__(self, params, mu=1e-3, mu_dec=0.1, mu_inc=10.0, mu_max=1e10, error_weights=None,
                 jacobian="auto"):
        super().__init__(params, dict(mu=mu, mu_dec=mu_dec, mu_inc=mu_inc, mu_max=mu_max, jacobian=jacobian))
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} works on one parameter group (the flat parameter vector)")
        self._flat = FlatParams(self.param_groups[0]["params"])
        self.error_weights = None if error_weights is None else np.asarray(error_weights, dtype=np.float64)
        self._rows_checked = False
        self._jbuf = None
        self.stopped = False          # True once mu exceeded mu_max: no step reduces E any more
        self.n_iter = 0

    # -------------------------------------------------------------- pieces
    def _residuals(self, closure, graph):
        ctx = enable_grad() if graph else no_grad()
        with ctx:
            r = closure()
        if not isinstance(r, Tensor):
            raise TypeError(f"{type(self).__name__}: the closure must return the residual Tensor (closure_kind "
                            f"'residuals'), got {type(r).__name__}")
        return r

    def _weights(self, r):
        if self.error_weights is None:
            return None
        w = self.error_weights
        if w.size == r.data.size:
            return w.reshape(-1)
        if r.ndim >= 1 and w.size == r.shape[0]:
            return np.repeat(w, r.data.size // r.shape[0])
        raise ValueError(f"{type(self).__name__}: error_weights has {w.size} values but the residuals have "
                         f"shape {r.shape}; give one weight per residual or per sample")

    def _energy(self, r, sw):
        v = r.data.reshape(-1).astype(np.float64)
        if sw is not None:
            v = v * sw
        return 0.5 * float(v.dot(v))

    def _linearise(self, closure):
        """(flat residual vector, J) at the current parameters, both scaled by sqrt(w)."""
        r = self._residuals(closure, graph=True)
        # the function is the same every step (full batch): confirm row independence once
        J = residual_jacobian(r, self._flat.params, method=self.param_groups[0]["jacobian"],
                              check=not self._rows_checked, out=self._jbuf)
        self._rows_checked = True
        self._jbuf = J                # reused next step: same shape, no new allocation
        sw = self._weights(r)
        sw = None if sw is None else np.sqrt(sw)
        rv = r.data.reshape(-1)
        if sw is not None:
            rv = rv * sw
            J = J * sw[:, None]
        return rv, J, sw

    @staticmethod
    def solve(J, rv, mu, extra_diag=0.0, extra_grad=None):
        """dx = -(JᵀJ + (mu + extra_diag) I)⁻¹ (Jᵀ r + extra_grad), by the smaller of the two systems."""
        n, p = J.shape
        lam = mu + extra_diag
        # products in J's dtype (the big work); the small system is solved in float64
        if extra_grad is None and n < p:
            A = (J @ J.T).astype(np.float64)
            A.flat[::n + 1] += lam
            return -J.T @ _spd_solve(A, rv.astype(np.float64)).astype(J.dtype)
        A = (J.T @ J).astype(np.float64)
        A.flat[::p + 1] += lam
        g = (J.T @ rv).astype(np.float64)
        if extra_grad is not None:
            g = g + extra_grad
        return -_spd_solve(A, g)

    # -------------------------------------------------------------- step
    def step(self, closure):
        if closure is None:
            raise ValueError(f"{type(self).__name__}.step() needs a closure returning the residual tensor")
        group = self.param_groups[0]
        rv, J, sw = self._linearise(closure)
        E = 0.5 * float(rv.dot(rv))
        x0 = self._flat.get()
        while group["mu"] <= group["mu_max"]:
            dx = self.solve(J, rv, group["mu"])
            self._flat.set(x0 + dx.astype(x0.dtype))
            E_new = self._energy(self._residuals(closure, graph=False), sw)
            if E_new < E:
                group["mu"] = max(group["mu"] * group["mu_dec"], 1e-20)
                self.n_iter += 1
                return E
            group["mu"] *= group["mu_inc"]
        self._flat.set(x0)
        self.stopped = True
        return E

    def _global_state(self):
        return {"n_iter": self.n_iter, "stopped": int(self.stopped)}

    def _load_global_state(self, state):
        self.n_iter = int(state.get("n_iter", 0))
        self.stopped = bool(state.get("stopped", 0))


def _spd_solve(A, b):
    """Solve A x = b for symmetric positive definite A (Cholesky), least squares if it is singular."""
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, b, rcond=None)[0]
    try:
        from scipy.linalg import cho_solve  # optional: two triangular solves instead of a new LU
    except ImportError:
        return np.linalg.solve(A, b)
    return cho_solve((L, True), b, check_finite=False)


class BayesianRegularization(LevenbergMarquardt):
    """Bayesian regularisation (MacKay 1992; Foresee & Hagan 1997; MATLAB trainbr) on top of LM.

        F = beta * E_D + alpha * E_W,   E_D = Σ w_i r_i²,  E_W = Σ x²     (LM steps on F)
        gamma = P - 2 alpha tr((2 beta JᵀJ + 2 alpha I)⁻¹)               (effective number of parameters)
              = Σ beta l_i / (beta l_i + alpha),  l_i the eigenvalues of JᵀJ
        alpha <- gamma / (2 E_W),   beta <- (N - gamma) / (2 E_D)

    ``gamma``, ``alpha`` and ``beta`` are attributes after each step. Starts from
    alpha = 0, beta = 1 as Foresee & Hagan. The re-estimate is valid only for
    0 < gamma < N (then alpha, beta > 0); when it leaves that range (with N <= P
    samples, alpha = 0 gives gamma = P >= N and beta <= 0) the hyperparameters
    restart from trainbr's initial values, gamma = P, alpha = P / (2 E_W),
    beta = (N - P) / (2 E_D) or 1 if that is not positive (``opt.resets`` counts
    the restarts). ``step`` returns F before the step.
    """

    def __init__(self, params, mu=5e-3, mu_dec=0.1, mu_inc=10.0, mu_max=1e10, error_weights=None,
                 jacobian="auto", alpha=0.0, beta=1.0):
        super().__init__(params, mu=mu, mu_dec=mu_dec, mu_inc=mu_inc, mu_max=mu_max,
                         error_weights=error_weights, jacobian=jacobian)
        self.alpha, self.beta = float(alpha), float(beta)
        self.gamma = float(self._flat.n)
        self.resets = 0               # times the hyperparameters left their valid range and were reset

    def _objective(self, E_D, x):
        return self.beta * E_D + self.alpha * float(x.astype(np.float64).dot(x))

    def step(self, closure):
        if closure is None:
            raise ValueError("BayesianRegularization.step() needs a closure returning the residual tensor")
        group = self.param_groups[0]
        rv, J, sw = self._linearise(closure)
        x0 = self._flat.get()
        F = self._objective(float(rv.dot(rv)), x0)
        ratio = self.alpha / self.beta
        while group["mu"] <= group["mu_max"]:
            dx = self.solve(J, rv, group["mu"], extra_diag=ratio, extra_grad=ratio * x0)
            x = x0 + dx.astype(x0.dtype)
            self._flat.set(x)
            E_D = 2.0 * self._energy(self._residuals(closure, graph=False), sw)
            if self._objective(E_D, x) < F:
                group["mu"] = max(group["mu"] * group["mu_dec"], 1e-20)
                self.n_iter += 1
                self._reestimate(J, E_D, x)
                return F
            group["mu"] *= group["mu_inc"]
        self._flat.set(x0)
        self.stopped = True
        return F

    def _reestimate(self, J, E_D, x):
        n, p = J.shape
        E_W = float(x.astype(np.float64).dot(x))
        gamma = effective_parameters(J, self.alpha, self.beta)
        alpha = gamma / (2.0 * max(E_W, 1e-30))
        beta = (n - gamma) / (2.0 * max(E_D, 1e-30))
        if not (0.0 < gamma < n and alpha > 0.0 and beta > 0.0 and np.isfinite(alpha) and np.isfinite(beta)):
            # Out of the valid range (gamma -> n, beta -> 0: the usual fate of a net with no more
            # samples than weights started from alpha = 0): start again from trainbr's initial values.
            gamma, alpha, beta = _initial_hyperparameters(n, p, E_D, E_W)
            self.resets += 1
        self.gamma, self.alpha, self.beta = gamma, alpha, beta

    def _global_state(self):
        out = super()._global_state()
        out.update(alpha=self.alpha, beta=self.beta, gamma=self.gamma)
        return out

    def _load_global_state(self, state):
        super()._load_global_state(state)
        self.alpha, self.beta = float(state["alpha"]), float(state["beta"])
        self.gamma = float(state["gamma"])


def effective_parameters(J, alpha, beta):
    """gamma = sum_i beta l_i / (beta l_i + alpha) over the eigenvalues l_i of JᵀJ (MacKay 1992).

    The same number as P - alpha tr((beta JᵀJ + alpha I)⁻¹), from the smaller of JᵀJ
    and JJᵀ (they share their non-zero eigenvalues), so it never needs the inverse of
    a singular matrix. At alpha = 0 it is P, as the trace formula reads (no prior: every
    weight counts), which is more than N when N < P: the caller resets then.
    """
    n, p = J.shape
    if alpha == 0.0:
        return float(p)
    gram = (J @ J.T) if n < p else (J.T @ J)
    lam = np.clip(np.linalg.eigvalsh(gram.astype(np.float64)), 0.0, None) * beta
    denom = lam + alpha
    return float(np.sum(np.divide(lam, denom, out=np.zeros_like(lam), where=denom > 0)))


def _initial_hyperparameters(n, p, E_D, E_W):
    """MATLAB trainbr's starting values: gamma = P, beta = (N - P) / (2 E_D) (1 if that is not positive),
    alpha = P / (2 E_W)."""
    gamma = float(p)
    beta = (n - gamma) / (2.0 * E_D) if E_D > 0 else 1.0
    if not beta > 0:
        beta = 1.0
    alpha = gamma / (2.0 * E_W) if E_W > 0 else 1.0
    return gamma, alpha, beta
