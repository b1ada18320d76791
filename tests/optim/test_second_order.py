"""Levenberg–Marquardt, Hessian-free, Bayesian regularisation and the residual Jacobian."""
import numpy as np
import pytest

import retrograd as rg
from helpers import params_from
from retrograd.optim.jacobian import residual_jacobian
from sinfit import sin_data, sin_init, sin_net


def _fit(name, seed, iters=100, **hyper):
    x, y = sin_data()
    params = params_from(sin_init(seed))
    X, Y = rg.tensor(x), rg.tensor(y)
    opt = rg.optim.get(name, params, **hyper)

    def residuals():
        return (sin_net(params, X) - Y).reshape(-1)
    for i in range(iters):
        opt.step(residuals)
        with rg.no_grad():
            mse = float(((sin_net(params, X) - Y) ** 2).mean().data)
        if mse < 1e-6:
            return i + 1, mse
    return None, mse


@pytest.mark.parametrize("name,hyper", [("lm", {}), ("hessian_free", {}), ("hessian_free", {"curvature": "hessian"}),
                                        ("hessian_free", {"preconditioner": "martens"})])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sin_fit_to_1e_6_within_100_iterations(name, hyper, seed):
    iters, mse = _fit(name, seed, **hyper)
    assert iters is not None, f"{name} {hyper} seed {seed}: MSE {mse:.3g} after 100 iterations"


def test_lm_step_matches_numpy_transcription():
    """One trainlm iteration on r(a, b) = a exp(b t) - y, with the Jacobian written by hand."""
    t = np.linspace(0, 1, 7)
    y = 2.0 * np.exp(-1.3 * t) + 0.01 * np.cos(5 * t)
    a = rg.tensor(np.array([1.0]), requires_grad=True)
    b = rg.tensor(np.array([0.5]), requires_grad=True)
    T = rg.tensor(t)
    opt = rg.optim.LevenbergMarquardt([a, b], mu=1e-3, damping="trainlm")
    w, mu = np.array([1.0, 0.5]), 1e-3
    for _ in range(4):
        opt.step(lambda: a * rg.exp(b * T) - y)
        while True:                                         # trainlm, by hand
            r = w[0] * np.exp(w[1] * t) - y
            J = np.stack([np.exp(w[1] * t), w[0] * t * np.exp(w[1] * t)], axis=1)
            dx = -np.linalg.solve(J.T @ J + mu * np.eye(2), J.T @ r)
            r_new = (w[0] + dx[0]) * np.exp((w[1] + dx[1]) * t) - y
            if r_new @ r_new < r @ r:
                w, mu = w + dx, mu * 0.1
                break
            mu *= 10
        np.testing.assert_allclose([a.data[0], b.data[0]], w, rtol=1e-10)
        assert opt.param_groups[0]["mu"] == pytest.approx(mu)


def test_error_weights_scale_the_residuals():
    """Weights w_i give the same steps as residuals multiplied by sqrt(w_i)."""
    x, y = sin_data()
    wts = np.linspace(0.5, 2.0, len(x))
    p1, p2 = params_from(sin_init(3)), params_from(sin_init(3))
    X, Y = rg.tensor(x), rg.tensor(y)
    o1 = rg.optim.LevenbergMarquardt(p1, error_weights=wts)
    o2 = rg.optim.LevenbergMarquardt(p2)
    sw = rg.tensor(np.sqrt(wts))
    for _ in range(3):
        e1 = o1.step(lambda: (sin_net(p1, X) - Y).reshape(-1))
        e2 = o2.step(lambda: (sin_net(p2, X) - Y).reshape(-1) * sw)
        assert e1 == pytest.approx(e2, rel=1e-10)
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape_out", [1, 3])
def test_per_sample_jacobian_equals_reverse_mode(shape_out):
    rng = np.random.default_rng(0)
    params = params_from([rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal((6, shape_out)),
                          rng.standard_normal(shape_out)])
    X = rg.tensor(rng.standard_normal((9, 4)))
    r = sin_net(params, X) * 2.0 - 1.0
    Jp = residual_jacobian(r, params, method="per_sample")
    Jr = residual_jacobian(r, params, method="reverse")
    assert Jp.shape == (9 * shape_out, 4 * 6 + 6 + 6 * shape_out + shape_out)
    np.testing.assert_allclose(Jp, Jr, rtol=1e-12, atol=1e-12)


def test_jacobian_falls_back_when_rows_mix():
    """A residual that mixes samples (centred by the batch mean) must not use the per-sample shortcut."""
    rng = np.random.default_rng(1)
    params = params_from([rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((3, 1)),
                          rng.standard_normal(1)])
    X = rg.tensor(rng.standard_normal((5, 2)))
    h = sin_net(params, X)
    r = (h - h.mean()).reshape(-1)
    J = residual_jacobian(r, params)
    np.testing.assert_allclose(J, residual_jacobian(r, params, method="reverse"), rtol=1e-12, atol=1e-12)


def test_bayesian_regularisation_effective_parameters():
    """On a noisy fit with an oversized net, gamma lands well below the weight count; beta ~ 1 / (2 sigma²)."""
    x, y = sin_data(noise=0.1, seed=0)
    params = params_from(sin_init(0, hidden=20))
    X, Y = rg.tensor(x), rg.tensor(y)
    opt = rg.optim.get("br", params)
    for _ in range(100):
        opt.step(lambda: (sin_net(params, X) - Y).reshape(-1))
    n_weights = 20 + 20 + 20 + 1
    assert 4 < opt.gamma < 20 < n_weights
    sigma = 1.0 / np.sqrt(2.0 * opt.beta)
    assert 0.07 < sigma < 0.13
    with rg.no_grad():
        pred = sin_net(params, X).data
    assert np.mean((pred - np.sin(x)) ** 2) < 3e-3          # close to the truth, not to the noise


def test_residual_closure_errors_are_clear():
    p = rg.tensor(np.ones(2), requires_grad=True)
    opt = rg.optim.LevenbergMarquardt([p])
    with pytest.raises(TypeError, match="residual Tensor"):
        opt.step(lambda: 3.0)
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step(None)
