"""Levenberg–Marquardt (MATLAB trainlm) and Bayesian regularisation (MATLAB trainbr) on residual closures."""
import numpy as np

from .. import backend
from ..autograd.tensor import Tensor, enable_grad, no_grad
from .flat import FlatParams
from .hyper import Flag, OneOf, Real
from .jacobian import residual_jacobian
from .optimizer import Optimizer


class LevenbergMarquardt(Optimizer):
    """Levenberg–Marquardt for E = ½ Σ w_i r_i² (Levenberg 1944; Marquardt 1963; Moré 1978; Nielsen 1999).

        (JᵀWJ + mu D²) dx = -JᵀW r,   D² = I (Levenberg, default); ``scale="more"``: the running
                                       maximum of diag(JᵀWJ) (Moré, as MINPACK); ``"marquardt"``: diag(JᵀWJ)
        damping="nielsen" (default):  rho = (E(x) - E(x + dx)) / (L(0) - L(dx)),  L the Gauss–Newton model;
            rho > 0: accept, mu <- mu * max(1/3, 1 - (2 rho - 1)³), nu <- 2;   else mu <- mu * nu, nu <- 2 nu
            first step: mu <- tau * max_j (JᵀWJ)_jj / D²_j, with tau = ``mu`` (default 1e-5)
        damping="trainlm" (MATLAB trainlm, Hagan & Menhaj 1994; ``mu`` default 1e-3):
            E falls: accept, mu <- mu * mu_dec;   else mu <- mu * mu_inc
        repeat until a step is accepted or mu > mu_max (then ``stopped`` is True)

    The closure returns the residual tensor r (any shape; batch first), with its
    graph and WITHOUT calling backward; J comes from one per-sample backward sweep
    (see ``jacobian.py``). ``error_weights`` (same size as r, or one per sample) give
    the w_i. One ``step`` is one Jacobian and returns E before the step. Every trial
    point is evaluated once, with its graph: the Jacobian at an accepted point comes
    from that evaluation, so a step costs one closure call per trial (the closure
    must compute the same function at every call, as for every ``full_batch`` method;
    ``reuse_trial=False`` evaluates it afresh at each step instead). When there are
    fewer residuals than weights the solve is done in the N x N dual form. Nielsen's
    rule reaches lower errors than trainlm's at equal residual evaluations, and than
    MINPACK's on two of three benchmark nets (docs/optim.md); ``damping="trainlm"``
    gives MATLAB's iterates.
    """
    full_batch = True
    closure_kind = "residuals"
    hyperparameters = {"mu": Real(low=0, low_open=True),
                       "mu_dec": Real(0, 1, low_open=True, high_open=True),
                       "mu_inc": Real(low=1, low_open=True), "mu_max": Real(low=0, low_open=True, inf=True),
                       "jacobian": OneOf("auto", "per_sample", "reverse"), "damping": OneOf("nielsen", "trainlm"),
                       "scale": OneOf(False, True, "more", "marquardt"), "reuse_trial": Flag()}
    _default_mu = {"nielsen": 1e-5, "trainlm": 1e-3}      # Nielsen's tau; trainlm's mu

    def __init__(self, params, mu=None, mu_dec=0.1, mu_inc=10.0, mu_max=1e10, error_weights=None,
                 jacobian="auto", damping="nielsen", scale=False, reuse_trial=True):
        if mu is None:
            mu = self._default_mu[damping]
        super().__init__(params, dict(mu=mu, mu_dec=mu_dec, mu_inc=mu_inc, mu_max=mu_max, jacobian=jacobian,
                                      damping=damping, scale="more" if scale is True else scale))
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} works on one parameter group (the flat parameter vector)")
        self._flat = FlatParams(self.param_groups[0]["params"])
        self.error_weights = None if error_weights is None else _check_weights(error_weights, type(self).__name__)
        self.reuse_trial = bool(reuse_trial)
        self._rows_checked = False
        self._jbuf = None
        self._accepted = None         # (residual tensor with its graph, x) of the last accepted trial
        self._scale = None            # Moré's D², the running maximum of diag(JᵀWJ)
        self._nu = 2.0
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
        """(flat residual vector, J, sqrt(w)) at the current parameters, r and J scaled by sqrt(w)."""
        cached, self._accepted = self._accepted, None
        if cached is not None and np.array_equal(cached[1], self._flat.get()):
            r = cached[0]                 # the accepted trial's evaluation, graph and all
        else:
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
    def solve(J, rv, mu, extra_diag=0.0, extra_grad=None, scale=None):
        """dx = -(JᵀJ + extra_diag I + mu D²)⁻¹ (Jᵀ r + extra_grad), by the smaller of the two systems.

        ``scale`` is D² (a vector; None for I).
        """
        n, p = J.shape
        # products in J's dtype (the big work); the small system is solved in float64
        if extra_grad is None and not extra_diag and n < p:
            # with u = D dx and K = J D⁻¹:  u = -Kᵀ(KKᵀ + mu I)⁻¹ r
            K = J if scale is None else J / np.sqrt(scale).astype(J.dtype)
            A = (K @ K.T).astype(np.float64)
            _add_to_diagonal(A, mu)
            u = -K.T @ _spd_solve(A, rv.astype(np.float64)).astype(J.dtype)
            return u if scale is None else u / np.sqrt(scale)
        A = (J.T @ J).astype(np.float64)
        _add_to_diagonal(A, extra_diag + (mu if scale is None else mu * scale))
        g = (J.T @ rv).astype(np.float64)
        if extra_grad is not None:
            g = g + extra_grad
        return -_spd_solve(A, g)

    def _update_scale(self, J):
        kind = self.param_groups[0]["scale"]
        if not kind:
            return
        d2 = np.einsum("ij,ij->j", J, J, dtype=np.float64)
        d2[d2 == 0] = 1.0
        if kind == "marquardt" or self._scale is None:
            self._scale = d2                              # Marquardt (1963): this point's diag(JᵀJ)
        else:
            self._scale = np.maximum(self._scale, d2)     # Moré (1978): the largest seen so far

    def _first_mu(self, J):
        """Nielsen's start: mu = tau * max_j (JᵀJ)_jj / D²_j (``mu`` holds tau until the first step)."""
        group = self.param_groups[0]
        if group["damping"] != "nielsen" or self.n_iter or self.stopped or getattr(self, "_mu_started", False):
            return
        d2 = np.einsum("ij,ij->j", J, J, dtype=np.float64)
        ratio = d2 / self._scale if self._scale is not None else d2
        group["mu"] = group["mu"] * max(float(ratio.max()), 1e-300)
        self._mu_started = True

    def _search(self, closure, J, rv, sw, x0, value, objective, ridge=0.0):
        """Damped Gauss–Newton trials from x0 until one lowers ``objective``; returns (x, r, value) or None.

        ``value`` is the objective at x0, ½|r|² + ½ ridge |x|² (ridge > 0: Bayesian regularisation).
        """
        group = self.param_groups[0]
        g = (J.T @ rv).astype(np.float64) + (ridge * x0 if ridge else 0.0)
        while group["mu"] <= group["mu_max"]:
            dx = self.solve(J, rv, group["mu"], extra_diag=ridge, extra_grad=ridge * x0 if ridge else None,
                            scale=self._scale)
            x = x0 + dx.astype(x0.dtype)
            self._flat.set(x)
            r = self._residuals(closure, graph=self.reuse_trial)
            new = objective(r, x)
            if group["damping"] == "trainlm":
                if new < value:
                    group["mu"] = max(group["mu"] * group["mu_dec"], 1e-20)
                    return x, r, new
                group["mu"] *= group["mu_inc"]
                continue
            Jdx = J @ dx.astype(J.dtype)
            predicted = -float(g @ dx) - 0.5 * (float(Jdx @ Jdx) + ridge * float(dx @ dx))
            rho = (value - new) / predicted if predicted > 0 else -1.0
            if rho > 0:
                group["mu"] = max(group["mu"] * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1e-20)
                self._nu = 2.0
                return x, r, new
            group["mu"] *= self._nu
            self._nu *= 2.0
        self._flat.set(x0)
        self.stopped = True
        return None

    # -------------------------------------------------------------- step
    def step(self, closure):
        if closure is None:
            raise ValueError(f"{type(self).__name__}.step() needs a closure returning the residual tensor")
        rv, J, sw = self._linearise(closure)
        self._update_scale(J)
        self._first_mu(J)
        E = 0.5 * float(rv.astype(np.float64).dot(rv))
        x0 = self._flat.get()
        found = self._search(closure, J, rv, sw, x0, E, lambda r, x: self._energy(r, sw))
        if found is not None:
            x, r, _ = found
            self.n_iter += 1
            self._accepted = (r, x) if self.reuse_trial else None
        return E

    def _global_state(self):
        out = {"n_iter": self.n_iter, "stopped": int(self.stopped), "nu": self._nu,
               "mu_started": int(getattr(self, "_mu_started", False))}
        if self._scale is not None:
            out["scale"] = self._scale.copy()
        return out

    def _load_global_state(self, state):
        self.n_iter = int(state.get("n_iter", 0))
        self.stopped = bool(state.get("stopped", 0))
        self._nu = float(state.get("nu", 2.0))
        self._mu_started = bool(state.get("mu_started", 0))
        self._scale = None if state.get("scale") is None else np.asarray(state["scale"], dtype=np.float64)
        self._accepted = None


def _check_weights(error_weights, owner):
    """The error weights as float64: real, finite and >= 0 (they weight squared residuals)."""
    w = np.asarray(error_weights)
    if w.dtype.kind not in "fiub":
        raise TypeError(f"{owner}: error_weights must be an array of numbers, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{owner}: error_weights must be finite and >= 0")
    return w


def _add_to_diagonal(A, value):
    """A[i, i] += value (a number or a vector), in place, on NumPy or CuPy."""
    if type(A) is np.ndarray:
        A.flat[::A.shape[0] + 1] += value
    else:
        i = backend.array_module(A).arange(A.shape[0])
        A[i, i] += value


def _spd_solve(A, b):
    """Solve A x = b for symmetric positive definite A (Cholesky), least squares if it is singular."""
    if backend.is_device_array(A):
        return _device_spd_solve(A, b)
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(A, b, rcond=None)[0]
    try:
        from scipy.linalg import cho_solve  # optional: two triangular solves instead of a new LU
    except ImportError:
        return np.linalg.solve(A, b)
    return cho_solve((L, True), b, check_finite=False)


def _device_spd_solve(A, b):
    """``_spd_solve`` on the GPU: cuSOLVER's Cholesky (its failure read back, as NumPy raises it) and two
    triangular solves, else least squares."""
    import cupyx
    from cupyx.scipy.linalg import solve_triangular
    xp = backend.array_module(A)
    try:
        with cupyx.errstate(linalg="raise"):
            L = xp.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return xp.linalg.lstsq(A, b, rcond=None)[0]
    return solve_triangular(L.T, solve_triangular(L, b, lower=True), lower=False)


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
    the restarts). ``step`` returns the data term ½ Σ w_i r_i² before the step, as LM does
    (the loss a training loop reports); ``opt.objective`` holds F.
    """
    hyperparameters = {"alpha": Real(low=0), "beta": Real(low=0, low_open=True)}

    _default_mu = {"nielsen": 1e-5, "trainlm": 5e-3}      # Nielsen's tau; trainbr's mu

    def __init__(self, params, mu=None, mu_dec=0.1, mu_inc=10.0, mu_max=1e10, error_weights=None,
                 jacobian="auto", alpha=0.0, beta=1.0, damping="nielsen", scale=False, reuse_trial=True):
        super().__init__(params, mu=mu, mu_dec=mu_dec, mu_inc=mu_inc, mu_max=mu_max, error_weights=error_weights,
                         jacobian=jacobian, damping=damping, scale=scale, reuse_trial=reuse_trial)
        self.alpha, self.beta = float(alpha), float(beta)
        self.gamma = float(self._flat.n)
        self.resets = 0               # times the hyperparameters left their valid range and were reset
        self.objective = None         # F = beta E_D + alpha E_W before the last step

    def _objective(self, E_D, x):
        return self.beta * E_D + self.alpha * float(x.astype(np.float64).dot(x))

    def step(self, closure):
        if closure is None:
            raise ValueError("BayesianRegularization.step() needs a closure returning the residual tensor")
        rv, J, sw = self._linearise(closure)
        self._update_scale(J)
        self._first_mu(J)
        x0 = self._flat.get()
        F = self._objective(float(rv.astype(np.float64).dot(rv)), x0)
        # LM on F / (2 beta) = ½ Σ w r² + ½ (alpha / beta) Σ x²: a Gauss–Newton model with a ridge
        ridge = self.alpha / self.beta

        def objective(r, x):
            return self._energy(r, sw) + 0.5 * ridge * float(x.astype(np.float64).dot(x))
        found = self._search(closure, J, rv, sw, x0, F / (2.0 * self.beta), objective, ridge=ridge)
        if found is not None:
            x, r, _ = found
            self.n_iter += 1
            self._accepted = (r, x) if self.reuse_trial else None
            self._reestimate(J, 2.0 * self._energy(r, sw), x)
        self.objective = F
        return 0.5 * float(rv.astype(np.float64).dot(rv))

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
    positive = denom > 0                      # (np.where, not divide(where=): CuPy's ufuncs lack it)
    return float(np.sum(np.where(positive, lam / np.where(positive, denom, 1.0), 0.0)))


def _initial_hyperparameters(n, p, E_D, E_W):
    """MATLAB trainbr's starting values: gamma = P, beta = (N - P) / (2 E_D) (1 if that is not positive),
    alpha = P / (2 E_W)."""
    gamma = float(p)
    beta = (n - gamma) / (2.0 * E_D) if E_D > 0 else 1.0
    if not beta > 0:
        beta = 1.0
    alpha = gamma / (2.0 * E_W) if E_W > 0 else 1.0
    return gamma, alpha, beta
