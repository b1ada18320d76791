"""Optimizers torch lacks: a few steps against plain NumPy transcriptions of the papers' update rules.

Each transcription is written element by element, the way the paper states it,
independently of the vectorised code in retrograd.optim.
"""
import numpy as np
import pytest

from helpers import FlatProblem


def sgn(x):
    return float(x > 0) - float(x < 0)


def rprop_paper(P, steps, variant, d0=0.01, etam=0.5, etap=1.2, dmin=1e-6, dmax=50.0):
    """Igel & Hüsken (2000), figures 1-4, one weight at a time."""
    w = P.w0.copy()
    n = w.size
    D, gprev, dw = np.full(n, d0), np.zeros(n), np.zeros(n)
    Eprev = np.inf
    for _ in range(steps):
        E, g = P.loss_grad(w)
        for i in range(n):
            if g[i] * gprev[i] > 0:
                D[i] = min(D[i] * etap, dmax)
                dw[i] = -sgn(g[i]) * D[i]
                w[i] += dw[i]
            elif g[i] * gprev[i] < 0:
                D[i] = max(D[i] * etam, dmin)
                if variant == "rprop+":
                    w[i] -= dw[i]
                    g[i] = 0
                elif variant == "irprop+":
                    if E > Eprev:
                        w[i] -= dw[i]
                    g[i] = 0
                elif variant == "irprop-":
                    g[i] = 0
                    dw[i] = 0
                else:                      # rprop-
                    dw[i] = -sgn(g[i]) * D[i]
                    w[i] += dw[i]
                if variant in ("rprop+", "irprop+"):
                    dw[i] = 0              # nothing to take back twice
            else:
                dw[i] = -sgn(g[i]) * D[i]
                w[i] += dw[i]
            gprev[i] = g[i]
        Eprev = E
    return w


def quickprop_paper(P, steps, eps=0.01, mu=1.75, decay=1e-4):
    """Fahlman (1988) / quickprop1.c, one weight at a time (s = dE/dw + decay w, d = previous step)."""
    w = P.w0.copy()
    n = w.size
    prev_s, prev_d = np.zeros(n), np.zeros(n)
    shrink = mu / (1 + mu)
    for _ in range(steps):
        _, g = P.loss_grad(w)
        for i in range(n):
            s, p, d = g[i] + decay * w[i], prev_s[i], prev_d[i]
            step = 0.0
            if d < 0:
                if s > 0:
                    step -= eps * s
                if s >= shrink * p:
                    step += mu * d
                else:
                    step += d * s / (p - s)
            elif d > 0:
                if s < 0:
                    step -= eps * s
                if s <= shrink * p:
                    step += mu * d
                else:
                    step += d * s / (p - s)
            else:
                step -= eps * s
            w[i] += step
            prev_d[i], prev_s[i] = step, s
    return w


def dbd_paper(P, steps, lr=0.01, kappa=1e-3, phi=0.1, theta=0.7):
    """Jacobs (1988), equations 4-5, one weight at a time."""
    w = P.w0.copy()
    n = w.size
    e, bar = np.full(n, lr), np.zeros(n)
    for _ in range(steps):
        _, g = P.loss_grad(w)
        for i in range(n):
            if bar[i] * g[i] > 0:
                e[i] += kappa
            elif bar[i] * g[i] < 0:
                e[i] -= phi * e[i]
            bar[i] = (1 - theta) * g[i] + theta * bar[i]
            w[i] -= e[i] * g[i]
    return w


def supersab_paper(P, steps, lr=0.01, up=1.05, down=0.5, momentum=0.5):
    """Tollenaere (1990), one weight at a time."""
    w = P.w0.copy()
    n = w.size
    e, gprev, dw = np.full(n, lr), np.zeros(n), np.zeros(n)
    for _ in range(steps):
        _, g = P.loss_grad(w)
        for i in range(n):
            if g[i] * gprev[i] < 0:
                e[i] *= down
                dw[i] = -dw[i]
                gprev[i] = 0
            else:
                if g[i] * gprev[i] > 0:
                    e[i] *= up
                dw[i] = -e[i] * g[i] + momentum * dw[i]
                gprev[i] = g[i]
            w[i] += dw[i]
    return w


def bold_driver_matlab(P, steps, lr=0.01, inc=1.05, dec=0.7, max_inc=1.04):
    """MATLAB traingda: try the step; reject it and cut lr if the error grew by more than max_perf_inc."""
    w = P.w0.copy()
    E, g = P.loss_grad(w)
    for _ in range(steps):
        trial = w - lr * g
        E2, g2 = P.loss_grad(trial)
        if E2 > E * max_inc:
            lr *= dec
        else:
            if E2 < E:
                lr *= inc
            w, E, g = trial, E2, g2
    return w


CASES = [
    ("rprop+", {}, lambda P, n: rprop_paper(P, n, "rprop+")),
    ("rprop-", {}, lambda P, n: rprop_paper(P, n, "rprop-")),
    ("irprop+", {}, lambda P, n: rprop_paper(P, n, "irprop+")),
    ("irprop-", {}, lambda P, n: rprop_paper(P, n, "irprop-")),
    ("rprop+", dict(lr=0.1, etas=(0.4, 1.3)), lambda P, n: rprop_paper(P, n, "rprop+", d0=0.1, etam=0.4, etap=1.3)),
    ("quickprop", {}, quickprop_paper),
    ("quickprop", dict(lr=0.1, mu=1.5, decay=0.0), lambda P, n: quickprop_paper(P, n, eps=0.1, mu=1.5, decay=0.0)),
    ("delta_bar_delta", {}, dbd_paper),
    ("delta_bar_delta", dict(lr=0.3, kappa=0.05, phi=0.3), lambda P, n: dbd_paper(P, n, lr=0.3, kappa=0.05, phi=0.3)),
    ("supersab", dict(momentum=0.5), supersab_paper),
    ("supersab", dict(lr=0.3, momentum=0.5), lambda P, n: supersab_paper(P, n, lr=0.3)),
    ("bold_driver", {}, bold_driver_matlab),
    ("bold_driver", dict(lr=2.0), lambda P, n: bold_driver_matlab(P, n, lr=2.0)),
]


@pytest.mark.parametrize("name,hyper,paper", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_paper_transcription(name, hyper, paper):
    P = FlatProblem()
    steps = 12
    ours = P.run(name, steps, **hyper)
    ref = paper(P, steps)
    assert np.abs(ours - P.w0).max() > 1e-3, "no movement: the comparison would prove nothing"
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_sign_changes_happen_in_the_rprop_comparison():
    """The Rprop cases above are only meaningful if some gradient components flip sign."""
    P = FlatProblem()
    w = P.w0.copy()
    flips = 0
    _, gprev = P.loss_grad(w)
    ws = rprop_paper(P, 1, "rprop-")
    for k in range(2, 12):
        ws = rprop_paper(P, k, "rprop-")
        _, g = P.loss_grad(ws)
        flips += int(np.sum(g * gprev < 0))
        gprev = g
    assert flips > 0


@pytest.mark.parametrize("lr", [0.3])
def test_the_large_rate_cases_do_flip_signs(lr):
    """The lr=0.3 DBD / SuperSAB rows above only test the decrease branches if the slope changes sign."""
    P = FlatProblem()
    w = P.w0.copy()
    _, gprev = P.loss_grad(w)
    flips = 0
    for _ in range(12):
        w = w - lr * gprev
        _, g = P.loss_grad(w)
        flips += int(np.sum(g * gprev < 0))
        gprev = g
    assert flips > 0
