"""Bayesian regularisation on nets with more weights than samples (issue #13 item 11)."""
import numpy as np
import pytest

import retrograd as rg
from helpers import params_from
from sinfit import sin_init, sin_net

SIGMA = 0.1


def _noisy_sin(n, seed):
    x = np.linspace(-np.pi, np.pi, n).reshape(-1, 1)
    return x, np.sin(x) + SIGMA * np.random.default_rng(100 + seed).standard_normal(x.shape)


@pytest.mark.parametrize("seed", [0, 3])
def test_1_20_1_net_on_40_noisy_points_fits_to_the_noise_level(seed):
    """61 weights, 40 samples: gamma once went to N, beta to 0 and every weight to 0."""
    x, y = _noisy_sin(40, seed)
    params = params_from(sin_init(seed, hidden=20))
    X, Y = rg.tensor(x), rg.tensor(y)
    opt = rg.optim.get("br", params)
    for _ in range(150):
        opt.step(lambda: (sin_net(params, X) - Y).reshape(-1))
        assert opt.alpha > 0 and opt.beta > 0                    # never outside their valid range
        if opt.stopped:
            break
    assert opt.resets >= 1                    # alpha = 0 at the start gives gamma = P > N: reset once
    with rg.no_grad():
        pred = sin_net(params, X).data
    rms_to_data = np.sqrt(np.mean((pred - y) ** 2))
    rms_to_truth = np.sqrt(np.mean((pred - np.sin(x)) ** 2))
    assert 2.0 < opt.gamma < 15.0, opt.gamma                 # well below N = 40 (and P = 61)
    assert 0.6 * SIGMA < rms_to_data < 1.3 * SIGMA, rms_to_data
    assert rms_to_truth < 0.7 * SIGMA, rms_to_truth           # it found the sine, not the noise
    assert 0.5 < 1.0 / np.sqrt(2.0 * opt.beta) / SIGMA < 1.5  # beta estimates the noise variance


@pytest.mark.parametrize("n,p", [(12, 30), (30, 12)])
def test_effective_parameters_equal_the_trace_formula(n, p):
    from retrograd.optim.levenberg_marquardt import effective_parameters
    J = np.random.default_rng(n).standard_normal((n, p))
    for alpha, beta in [(0.3, 2.0), (1e-3, 50.0), (10.0, 0.1)]:
        trace = p - alpha * np.trace(np.linalg.inv(beta * J.T @ J + alpha * np.eye(p)))
        assert effective_parameters(J, alpha, beta) == pytest.approx(trace, rel=1e-10)
    assert effective_parameters(J, 0.0, 1.0) == p             # no prior: every weight counts
