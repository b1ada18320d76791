"""RNN / LSTM / GRU: NumPy step equations, torch over 50 steps (layers, bidirectional, batch_first, states), gradchecks, truncated BPTT."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn

from .conftest import assert_close

rng = np.random.default_rng(9)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_reference(x, h, c, wi, wh, bi, bh):
    H = h.shape[-1]
    out = []
    for xt in x:
        z = xt @ wi.T + bi + h @ wh.T + bh
        i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out), h, c


def gru_reference(x, h, wi, wh, bi, bh):
    H = h.shape[-1]
    out = []
    for xt in x:
        gx, gh = xt @ wi.T + bi, h @ wh.T + bh
        r, z = sigmoid(gx[:, :H] + gh[:, :H]), sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out), h


def _params(m, layer=0):
    return [getattr(m, f"{k}_l{layer}").data for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def test_lstm_against_the_step_equations():
    m = nn.LSTM(3, 4, dtype=np.float64)
    x, h0, c0 = rng.standard_normal((6, 2, 3)), rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 2, 4))
    out, (hn, cn) = m(rg.tensor(x), (rg.tensor(h0), rg.tensor(c0)))
    ref, h, c = lstm_reference(x, h0[0], c0[0], *_params(m))
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    np.testing.assert_allclose(hn.data[0], h, rtol=1e-12)
    np.testing.assert_allclose(cn.data[0], c, rtol=1e-12)


def test_gru_and_rnn_against_the_step_equations():
    g = nn.GRU(3, 4, dtype=np.float64)
    x = rng.standard_normal((5, 2, 3))
    out, hn = g(rg.tensor(x))
    ref, h = gru_reference(x, np.zeros((2, 4)), *_params(g))
    np.testing.assert_allclose(out.data, ref, rtol=1e-12)
    np.testing.assert_allclose(hn.data[0], h, rtol=1e-12)
    r = nn.RNN(3, 4, nonlinearity="relu", dtype=np.float64)
    wi, wh, bi, bh = _params(r)
    h, ref = np.zeros((2, 4)), []
    for xt in x:
        h = np.maximum(xt @ wi.T + bi + h @ wh.T + bh, 0)
        ref.append(h)
    np.testing.assert_allclose(r(rg.tensor(x))[0].data, np.stack(ref), rtol=1e-12)


# kind, num_layers, bidirectional, batch_first, extra kwargs
CONFIGS = [
    ("LSTM", 2, True, False, {}),
    ("LSTM", 1, False, True, {}),
    ("GRU", 2, True, True, {}),
    ("GRU", 1, False, False, {"bias": False}),
    ("RNN", 2, True, False, {"nonlinearity": "tanh"}),
    ("RNN", 1, False, True, {"nonlinearity": "relu"}),
]


@pytest.fixture(params=["compiled", "numpy", "reference"])
def path(request, monkeypatch):
    """Which implementation runs: the LSTM's compiled loops, the fast NumPy loops, or the reference
    ops with every acceleration off (retrograd.accel)."""
    if request.param == "numpy":
        from retrograd.accel import lstm_native
        monkeypatch.setattr(lstm_native, "_LIB", None)
    with rg.accel.enabled(request.param != "reference"):
        yield request.param


def _skip_unless_compiled(path, kind):
    if path == "compiled" and (kind != "LSTM" or not rg.accel.compiled_kernels()["lstm"]):
        pytest.skip("only the LSTM has compiled loops, and only where they were built")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,layers,bi,bf,kw", CONFIGS)
def test_against_torch_over_50_steps(kind, layers, bi, bf, kw, dtype, path, torch):
    """Every layer kind on every path: compiled loops (where built), NumPy loops, the reference."""
    _skip_unless_compiled(path, kind)
    T, B, I, H = 50, 3, 4, 5
    m = getattr(nn, kind)(I, H, num_layers=layers, bidirectional=bi, batch_first=bf, dtype=dtype, **kw)
    t = getattr(torch.nn, kind)(I, H, num_layers=layers, bidirectional=bi, batch_first=bf, **kw)
    t = t.to(torch.float64 if dtype == np.float64 else torch.float32)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    with torch.no_grad():
        for n, p in m.named_parameters():
            assert p.shape == tuple(getattr(t, n).shape)
            getattr(t, n).copy_(torch.tensor(p.data))
    D = 2 if bi else 1
    scale = 0.5 if kind == "RNN" else 1.0          # keep the plain RNN out of saturation over 50 steps
    x = (rng.standard_normal((B, T, I) if bf else (T, B, I)) * scale).astype(dtype)
    h0 = rng.standard_normal((layers * D, B, H)).astype(dtype)
    c0 = rng.standard_normal((layers * D, B, H)).astype(dtype)
    ours = [rg.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    if kind == "LSTM":
        out, (hn, cn) = m(ours[0], (ours[1], ours[2]))
        tout, (thn, tcn) = t(theirs[0], (theirs[1], theirs[2]))
        pairs = [(out, tout), (hn, thn), (cn, tcn)]
    else:
        out, hn = m(ours[0], ours[1])
        tout, thn = t(theirs[0], theirs[1])
        pairs = [(out, tout), (hn, thn)]
    loss, tloss = 0, 0
    for a, b in pairs:
        assert_close(a, b, dtype, "output")
        w = rng.standard_normal(a.shape).astype(dtype)
        loss = loss + (a * rg.tensor(w)).sum()
        tloss = tloss + (b * torch.tensor(w)).sum()
    loss.backward()
    tloss.backward()
    n_inputs = 3 if kind == "LSTM" else 2
    for a, b, name in zip(ours[:n_inputs], theirs, ["x", "h0", "c0"]):
        assert_close(a.grad, b.grad, dtype, f"grad {name}")
    for n, p in m.named_parameters():
        assert_close(p.grad, getattr(t, n).grad, dtype, f"grad {n}")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_a_loss_on_the_last_step_only_against_torch(kind, path, torch):
    """out[-1] (W4's head): with acceleration on, the cotangent stays lazy down to the layer (accel/scattered.py)."""
    _skip_unless_compiled(path, kind)
    m = getattr(nn, kind)(4, 6, dtype=np.float64)
    t = getattr(torch.nn, kind)(4, 6).to(torch.float64)
    with torch.no_grad():
        for n, p in m.named_parameters():
            getattr(t, n).copy_(torch.tensor(p.data))
    x = rng.standard_normal((30, 17, 4))
    w = rng.standard_normal((17, 6))
    ours, theirs = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (m(ours)[0][-1] * rg.tensor(w)).sum().backward()
    (t(theirs)[0][-1] * torch.tensor(w)).sum().backward()
    assert_close(ours.grad, theirs.grad, np.float64, "grad x")
    for n, p in m.named_parameters():
        assert_close(p.grad, getattr(t, n).grad, np.float64, f"grad {n}")


def _as_function(m, names):
    """f(x, *params) evaluating module m with the given tensors in place of its parameters."""
    def f(x, *ws):
        saved = {n: getattr(m, n) for n in names}
        for n, w in zip(names, ws):
            object.__setattr__(m, n, w)
        try:
            out = m(x)[0]
        finally:
            for n, p in saved.items():
                object.__setattr__(m, n, p)
        return out
    return f


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_gradcheck_second_order(kind):
    m = getattr(nn, kind)(2, 2, bidirectional=True, dtype=np.float64)
    names = ["weight_ih_l0", "weight_hh_l0_reverse", "bias_hh_l0"]
    ws = [getattr(m, n).data.copy() for n in names]
    rg.gradcheck(_as_function(m, names), [rng.standard_normal((3, 2, 2))] + ws, order=2)


def test_truncated_bptt_by_detaching_the_carried_state():
    rg.manual_seed(0)
    m = nn.LSTM(2, 3, dtype=np.float64)
    x = rng.standard_normal((8, 2, 2))
    state = None
    grads = []
    for chunk in (x[:4], x[4:]):
        m.zero_grad()
        out, state = m(rg.tensor(chunk), state)
        out.sum().backward()
        grads.append(m.weight_hh_l0.grad.data.copy())
        state = (state[0].detach(), state[1].detach())
    # the second chunk's gradient equals a fresh run that starts from the carried values
    m.zero_grad()
    _, (h4, c4) = m(rg.tensor(x[:4]))
    m.zero_grad()
    out, _ = m(rg.tensor(x[4:]), (rg.tensor(h4.data), rg.tensor(c4.data)))
    out.sum().backward()
    np.testing.assert_allclose(grads[1], m.weight_hh_l0.grad.data, rtol=1e-12)
    # and differs from full BPTT through all 8 steps
    m.zero_grad()
    out, _ = m(rg.tensor(x))
    out[4:].sum().backward()
    assert not np.allclose(grads[1], m.weight_hh_l0.grad.data)


def test_shapes_defaults_and_errors():
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    out, hn = m(rg.tensor(np.zeros((5, 7, 3), dtype=np.float32)))
    assert out.shape == (5, 7, 8) and hn.shape == (4, 5, 4) and out.dtype == np.float32
    assert m.weight_ih_l1.shape == (12, 8) and m.weight_hh_l0_reverse.shape == (12, 4)
    bound = 1 / np.sqrt(4)
    assert all(np.abs(p.data).max() <= bound for p in m.parameters())
    with pytest.raises(ValueError, match="input must be \\(batch, time, features\\) with features = 3"):
        m(rg.tensor(np.zeros((5, 7, 2))))
    with pytest.raises(ValueError, match="initial h must have shape .* = \\(4, 5, 4\\)"):
        m(rg.tensor(np.zeros((5, 7, 3))), rg.tensor(np.zeros((2, 5, 4))))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(2, 2, nonlinearity="sigmoid")


def test_results_survive_later_calls_that_reuse_work_arrays():
    """Kernels reuse scratch buffers between calls; nothing they return may live in one."""
    m = nn.LSTM(3, 4, dtype=np.float64)
    conv = nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64)
    x1, x2 = rng.standard_normal((6, 2, 3)), rng.standard_normal((6, 2, 3))
    i1, i2 = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    a = rg.tensor(x1, requires_grad=True)
    out1, _ = m(a)
    y1 = conv(rg.tensor(i1))
    kept, kept_y = out1.data.copy(), y1.data.copy()
    out1.sum().backward()
    g1 = a.grad.data.copy()
    w1 = m.weight_hh_l0.grad.data.copy()
    out2, _ = m(rg.tensor(x2, requires_grad=True))          # same shapes: the same scratch arrays
    out2.sum().backward()
    conv(rg.tensor(i2)).sum().backward()
    np.testing.assert_array_equal(out1.data, kept)
    np.testing.assert_array_equal(y1.data, kept_y)
    np.testing.assert_array_equal(a.grad.data, g1)
    assert not np.array_equal(m.weight_hh_l0.grad.data, w1)  # the second backward accumulated
