"""Levenberg–Marquardt damping: Nielsen's gain-ratio rule against a transcription, trial reuse, and what it buys."""
import numpy as np
import pytest

import retrograd as rg
from helpers import params_from
from sinfit import sin_data, sin_init, sin_net

T = np.linspace(0, 1, 9)
Y = 2.0 * np.exp(-1.3 * T) + 0.05 * np.cos(5 * T)


def _model(w):
    return w[0] * np.exp(w[1] * T) - Y


def _jac(w):
    return np.stack([np.exp(w[1] * T), w[0] * T * np.exp(w[1] * T)], axis=1)


def nielsen_by_hand(w, steps, tau, scale):
    """Madsen, Nielsen & Tingleff (2004), algorithm 3.16, with Moré's scaling when asked; one Jacobian per loop."""
    mu, nu, D2 = None, 2.0, None
    history, rejected = [], 0
    for _ in range(steps):
        r, J = _model(w), _jac(w)
        A, g = J.T @ J, J.T @ r
        d = np.diag(A).copy()
        D2 = (np.ones(2) if not scale else d if D2 is None else np.maximum(D2, d))
        if mu is None:
            mu = tau * np.max(d / D2)
        while True:
            h = -np.linalg.solve(A + mu * np.diag(D2), g)
            r_new = _model(w + h)
            gain = (0.5 * r @ r - 0.5 * r_new @ r_new) / (-(g @ h) - 0.5 * (J @ h) @ (J @ h))
            if gain > 0:
                w = w + h
                mu *= max(1 / 3, 1 - (2 * gain - 1) ** 3)
                nu = 2.0
                break
            mu *= nu
            nu *= 2
            rejected += 1
        history.append((w.copy(), mu))
    return history, rejected


@pytest.mark.parametrize("scale", [False, "more"])
def test_nielsen_steps_match_the_transcription(scale):
    a = rg.tensor(np.array([0.5]), requires_grad=True)
    b = rg.tensor(np.array([0.8]), requires_grad=True)
    Tt = rg.tensor(T)
    opt = rg.optim.LevenbergMarquardt([a, b], mu=1e-2, scale=scale)
    ref, rejected = nielsen_by_hand(np.array([0.5, 0.8]), 8, tau=1e-2, scale=bool(scale))
    assert rejected > 0                                  # the failure branch is exercised too
    for w, mu in ref:
        opt.step(lambda: a * rg.exp(b * Tt) - Y)
        np.testing.assert_allclose([a.data[0], b.data[0]], w, rtol=1e-10, atol=1e-12)
        assert opt.param_groups[0]["mu"] == pytest.approx(mu, rel=1e-9)
    assert np.abs(_model(ref[-1][0])).max() < 0.1


def _counting(params, X, Y):
    calls = [0]

    def residuals():
        calls[0] += 1
        return (sin_net(params, X) - Y).reshape(-1)
    return residuals, calls


def test_each_trial_costs_one_evaluation_and_reuse_changes_no_iterate():
    x, y = sin_data()
    X, Yt = rg.tensor(x), rg.tensor(y)
    runs = []
    for reuse in (True, False):
        params = params_from(sin_init(4))
        residuals, calls = _counting(params, X, Yt)
        opt = rg.optim.get("lm", params, reuse_trial=reuse)
        for _ in range(15):
            opt.step(residuals)
        assert not opt.stopped
        runs.append(([p.data.copy() for p in params], calls[0]))
    (w_reuse, calls_reuse), (w_fresh, calls_fresh) = runs
    for a, b in zip(w_reuse, w_fresh):
        np.testing.assert_array_equal(a, b)
    assert calls_fresh - calls_reuse == 15 - 1          # one fresh evaluation per step but the first


def test_nielsen_beats_trainlm_at_equal_residual_evaluations_on_the_sin_fit():
    """benchmarks/bench_lm_minpack.py in small: 200 residual evaluations, three seeds."""
    x, y = sin_data()
    X, Yt = rg.tensor(x), rg.tensor(y)
    sse = {}
    for damping in ("nielsen", "trainlm"):
        out = []
        for seed in range(3):
            params = params_from(sin_init(seed))
            residuals, calls = _counting(params, X, Yt)
            opt = rg.optim.get("lm", params, damping=damping, mu_max=1e30)
            best = None
            while calls[0] < 190 and not opt.stopped:
                E = opt.step(residuals)
                best = E if best is None else min(best, E)
            out.append(2 * best)
        sse[damping] = float(np.median(out))
    assert sse["nielsen"] < 0.3 * sse["trainlm"], sse


def test_bad_damping_options_are_refused():
    p = rg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="damping"):
        rg.optim.LevenbergMarquardt([p], damping="moré")
    with pytest.raises(ValueError, match="scale"):
        rg.optim.LevenbergMarquardt([p], scale="jacobi")


@pytest.mark.parametrize("name", ["lm", "br"])
def test_fit_reports_the_data_loss_where_each_epoch_began(name):
    """The Jacobian comes from the accepted trial's evaluation, so a step may start without a closure call:
    the epoch's loss is what step() returns, the data loss at its starting point (for BR too, not F)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 1))
    y = np.sin(2 * X) + 0.05 * rng.standard_normal(X.shape)
    model = rg.nn.Sequential(rg.nn.Linear(1, 6, dtype=np.float64), rg.nn.Tanh(), rg.nn.Linear(6, 1, dtype=np.float64))
    starts = []

    class Start(rg.training.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            with rg.no_grad():
                d = model(rg.tensor(X)).data - y
            starts.append(0.5 * float(np.sum(d * d)))
    h = rg.fit(model, "half_sse", rg.optim.get(name, model.parameters()), (X, y), epochs=8, mode="batch",
               quiet=True, callbacks=[Start()])
    np.testing.assert_allclose(h["loss"], starts[:len(h["loss"])], rtol=1e-12)
