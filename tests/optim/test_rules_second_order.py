"""SCG, Bayesian regularisation and Hessian-free pieces against plain NumPy transcriptions."""
import numpy as np
import pytest

import retrograd as rg
from helpers import FlatProblem, params_from
from retrograd.optim.jacobian import residual_jacobian
from sinfit import sin_data, sin_init, sin_net


def scg_moller(P, iters, sigma0=5e-5, lam=5e-7):
    """Møller (1993) as printed (the Netlab scg.m layout), on the flat problem; one iteration per loop."""
    w = P.w0.copy()
    f_old, g_new = P.loss_grad(w)
    d = -g_new
    success, nsuccess = True, 0
    for _ in range(iters):
        if success:
            mu = d @ g_new
            if mu >= 0:
                d = -g_new
                mu = d @ g_new
            kappa = d @ d
            sigma = sigma0 / np.sqrt(kappa)
            _, g_plus = P.loss_grad(w + sigma * d)
            gamma = d @ (g_plus - g_new) / sigma
        delta = gamma + lam * kappa
        if delta <= 0:
            delta = lam * kappa
            lam = lam - gamma / kappa
        alpha = -mu / delta
        f_new, g_try = P.loss_grad(w + alpha * d)
        Delta = 2 * (f_new - f_old) / (alpha * mu)
        success = Delta >= 0
        if success:
            w, f_old, g_old, g_new = w + alpha * d, f_new, g_new, g_try
            nsuccess += 1
        if Delta < 0.25:
            lam = min(4 * lam, 1e100)
        elif Delta > 0.75:
            lam = max(0.5 * lam, 1e-15)
        if success:
            if nsuccess >= w.size:
                d, nsuccess = -g_new, 0
            else:
                d = ((g_old - g_new) @ g_new / mu) * d - g_new
    return w


def test_scg_matches_moller():
    P = FlatProblem()
    ours = P.run("scg", 15)
    ref = scg_moller(P, 15)
    assert np.abs(ours - P.w0).max() > 1e-2
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_bayesian_regularisation_first_steps_match_foresee_hagan():
    """Two trainbr iterations by hand: LM on F = beta E_D + alpha E_W, then gamma, alpha, beta re-estimated."""
    x, y = sin_data(noise=0.1)
    init = sin_init(2)
    params = params_from(init)
    X, Y = rg.tensor(x), rg.tensor(y)
    opt = rg.optim.BayesianRegularization(params, damping="trainlm")
    w = np.concatenate([a.ravel() for a in init])
    alpha, beta, mu = 0.0, 1.0, 5e-3
    shapes = [a.shape for a in init]

    def unflat(v):
        out, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            out.append(v[i:i + n].reshape(s))
            i += n
        return out

    def resid(v):
        return (sin_net([rg.tensor(a) for a in unflat(v)], X) - Y).data.ravel()
    for _ in range(3):
        opt.step(lambda: (sin_net(params, X) - Y).reshape(-1))
        r = resid(w)
        ps = params_from(unflat(w))
        J = residual_jacobian((sin_net(ps, X) - Y).reshape(-1), ps, method="reverse")
        F = beta * r @ r + alpha * w @ w
        for _ in range(30):                                 # mu_max 1e10 is never reached here
            A = J.T @ J + (mu + alpha / beta) * np.eye(w.size)
            dx = -np.linalg.solve(A, J.T @ r + alpha / beta * w)
            r_new = resid(w + dx)
            if beta * r_new @ r_new + alpha * (w + dx) @ (w + dx) < F:
                mu *= 0.1
                break
            mu *= 10
        H = 2 * beta * J.T @ J + 2 * alpha * np.eye(w.size)
        gamma = w.size - 2 * alpha * np.trace(np.linalg.inv(H))
        w = w + dx
        alpha, beta = gamma / (2 * w @ w), (len(r) - gamma) / (2 * r_new @ r_new)
        np.testing.assert_allclose(np.concatenate([p.data.ravel() for p in params]), w, rtol=1e-8, atol=1e-10)
        assert opt.gamma == pytest.approx(gamma, rel=1e-8)
        assert opt.alpha == pytest.approx(alpha, rel=1e-8)
        assert opt.beta == pytest.approx(beta, rel=1e-8)


@pytest.mark.parametrize("curvature", ["gn", "hessian"])
def test_hessian_free_curvature_products(curvature):
    """B v from the engine equals JᵀJ v (Gauss–Newton) or a finite difference of gradients (Hessian)."""
    x, y = sin_data()
    params = params_from(sin_init(1))
    X, Y = rg.tensor(x), rg.tensor(y)
    opt = rg.optim.HessianFree(params, curvature=curvature)
    r = (sin_net(params, X) - Y).reshape(-1)
    g, Bv = opt._products(r, None)
    J = residual_jacobian(r, params, method="reverse")
    np.testing.assert_allclose(g, J.T @ r.data, rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(0).standard_normal(g.size)
    if curvature == "gn":
        expected = J.T @ (J @ v)
    else:
        w0, h = opt._flat.get(), 1e-5

        def grad_at(wv):
            ps = params_from([a.copy() for a in opt._flat.split(wv)])
            rr = (sin_net(ps, X) - Y).reshape(-1)
            (0.5 * (rr * rr).sum()).backward()
            return np.concatenate([p.grad.data.ravel() for p in ps])
        expected = (grad_at(w0 + h * v) - grad_at(w0 - h * v)) / (2 * h)
    np.testing.assert_allclose(Bv(v), expected, rtol=1e-6, atol=1e-8)


def test_hessian_free_cg_solves_the_damped_system():
    """With a large CG budget, one HF step's CG solution p satisfies (B + lambda I) p = -g."""
    x, y = sin_data()
    params = params_from(sin_init(1))
    X, Y = rg.tensor(x), rg.tensor(y)
    opt = rg.optim.HessianFree(params, lambda_=0.5)
    r = (sin_net(params, X) - Y).reshape(-1)
    g, Bv = opt._products(r, None)
    J = residual_jacobian(r, params, method="reverse")
    saves = opt._cg(Bv, g, 0.5, np.zeros_like(g), np.ones_like(g), max_cg=500, min_cg=500)
    expected = -np.linalg.solve(J.T @ J + 0.5 * np.eye(g.size), g)
    np.testing.assert_allclose(saves[-1], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["fr", "pr+", "hs"])
def test_cg_directions_follow_the_beta_formula_and_powell_restarts(kind):
    """Each new direction is -g + beta d' with the named beta, or -g after a Powell restart."""
    P = FlatProblem()
    params = params_from(P.init)
    opt = rg.optim.ConjugateGradient(params, beta=kind)
    from helpers import mse_closure
    closure = mse_closure(opt, params, P.X, P.Y)
    opt.step(closure)
    distinct = used = 0
    for _ in range(12):
        g_prev, d_prev = opt._s["g"].copy(), opt._s["d"].copy()
        opt.step(closure)
        g, d = opt._s["g"], opt._s["d"]
        y = g - g_prev
        betas = {"fr": g @ g / (g_prev @ g_prev), "pr+": max(0.0, g @ y / (g_prev @ g_prev)),
                 "hs": max(0.0, g @ y / (d_prev @ y))}
        beta = 0.0 if abs(g @ g_prev) >= 0.2 * (g @ g) else betas[kind]
        expected = -g + beta * d_prev
        if g @ expected >= 0:
            expected = -g
        np.testing.assert_allclose(d, expected, rtol=1e-9, atol=1e-12)
        used += beta > 0
        others = [v for k, v in betas.items() if k != kind]
        distinct += all(abs(v - betas[kind]) > 1e-3 * abs(betas[kind]) for v in others) and beta > 0
    assert used >= 2 and distinct >= 1, "the steps never exercised this beta"
