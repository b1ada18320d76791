"""DP-SGD per-example clipping and noise (Abadi et al. 2016) against a NumPy transcription of Algorithm 1."""
import numpy as np
import pytest

import retrograd as rg

SIZES = (3, 5, 2)


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, SIZES[0])), rng.standard_normal((n, SIZES[-1])) * 3.0


def _model(seed=1):
    rng = np.random.default_rng(seed)
    model = rg.nn.Sequential(rg.nn.Linear(SIZES[0], SIZES[1], dtype=np.float64), rg.nn.Tanh(),
                             rg.nn.Linear(SIZES[1], SIZES[2], dtype=np.float64))
    for p in model.parameters():
        p.data[...] = rng.uniform(-1, 1, p.shape)
    return model


def _grads_by_hand(w, x, t):
    """One example's gradient of mean((tanh(x W1 + b1) W2 + b2 - t)²), written out."""
    W1, b1, W2, b2 = w
    h = np.tanh(x @ W1 + b1)
    d_out = 2.0 * (h @ W2 + b2 - t) / t.size
    d_h = (W2 @ d_out) * (1.0 - h * h)
    return [np.outer(x, d_h), d_h, np.outer(h, d_out), d_out]


def _transcription(w, X, Y, steps, batch, clip, sigma, seed, rule, lr):
    """Abadi et al. (2016) Algorithm 1, example by example; then SGD or Adam (Kingma & Ba) on the noisy mean."""
    w = [a.copy() for a in w]
    rng = np.random.default_rng(seed)
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    k = 0
    for step in range(steps):
        lo = (step * batch) % len(X)
        xb, tb = X[lo:lo + batch], Y[lo:lo + batch]
        total = [np.zeros_like(a) for a in w]
        for x, t in zip(xb, tb):
            g = _grads_by_hand(w, x, t)
            norm = np.sqrt(sum(float(np.sum(a * a)) for a in g))
            for s, a in zip(total, g):
                s += a / max(1.0, norm / clip)
        noisy = [(s + rng.standard_normal(s.shape) * sigma * clip) / len(xb) for s in total]
        k += 1
        for i, g in enumerate(noisy):
            if rule == "sgd":
                w[i] = w[i] - lr * g
            else:
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mhat, vhat = m[i] / (1 - 0.9 ** k), v[i] / (1 - 0.999 ** k)
                w[i] = w[i] - lr * mhat / (np.sqrt(vhat) + 1e-8)
    return w


@pytest.mark.parametrize("rule", ["sgd", "adam"])
@pytest.mark.parametrize("clip,sigma", [(0.5, 0.0), (0.5, 1.3), (100.0, 0.7)])
def test_fit_with_dp_options_matches_the_transcription(rule, clip, sigma):
    X, Y = _data()
    model = _model()
    w0 = [p.data.copy() for p in model.parameters()]
    opt = rg.optim.get(rule, model.parameters(), lr=0.05, dp_clip=clip, dp_noise=sigma, dp_seed=3)
    rg.fit(model, "mse", opt, (X, Y), epochs=2, batch_size=4, shuffle=False, quiet=True, compile=False)
    ref = _transcription(w0, X, Y, steps=6, batch=4, clip=clip, sigma=sigma, seed=3, rule=rule, lr=0.05)
    for p, r in zip(model.parameters(), ref):
        np.testing.assert_allclose(p.data, r, rtol=1e-11, atol=1e-13)
    if clip == 0.5:
        assert opt.last_clipped_fraction > 0.5                # the clipping really acted


def test_the_clipped_sum_never_exceeds_n_times_the_bound():
    X, Y = _data(n=8)
    model = _model()
    opt = rg.optim.PerExampleClipping(rg.optim.SGD(model.parameters(), lr=0.1), clip=0.25)
    grads = rg.per_example_grads(model, "mse", X, Y * 100.0)  # huge errors: every example is clipped
    private = opt.private_gradient(grads)
    assert np.sqrt(sum(float(np.sum(g * g)) for g in private)) <= 0.25 + 1e-12
    assert opt.last_clipped_fraction == 1.0


def test_resume_draws_the_same_noise():
    X, Y = _data()
    runs = []
    for split in (False, True):
        model = _model()
        opt = rg.optim.get("sgd", model.parameters(), lr=0.05, momentum=0.9, dp_clip=1.0, dp_noise=1.0, dp_seed=9)
        closure = _closure(model, X, Y)
        for i in range(6):
            if split and i == 3:
                state = opt.state_dict()
                opt = rg.optim.get("sgd", model.parameters(), lr=0.05, momentum=0.9, dp_clip=1.0, dp_noise=1.0,
                                   dp_seed=123)
                opt.load_state_dict(state)
            opt.step(closure)
        runs.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def _closure(model, X, Y):
    def closure(params):
        grads, losses = rg.per_example_grads(model, "mse", X, Y, params=params, return_losses=True)
        return float(losses.mean()), grads
    return closure


def test_bad_dp_options_are_refused_with_the_reason():
    model = _model()
    with pytest.raises(ValueError, match="first-order"):
        rg.optim.get("lbfgs", model.parameters(), dp_clip=1.0)
    with pytest.raises(ValueError, match="dp_clip must be a positive"):
        rg.optim.get("sgd", model.parameters(), lr=0.1, dp_clip=-1.0)
    with pytest.raises(ValueError, match="dp_noise needs dp_clip"):
        rg.optim.get("sgd", model.parameters(), lr=0.1, dp_noise=1.0)
    opt = rg.optim.get("sgd", model.parameters(), lr=0.1, dp_clip=1.0)
    with pytest.raises(TypeError, match="per-example"):
        opt.step(lambda params: 1.0)
