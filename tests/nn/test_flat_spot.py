"""Fahlman's flat-spot fixes: the sigmoid-prime offset and the atanh error, against NumPy transcriptions of his code."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.autograd import GradcheckError
from retrograd.nn.arch import describe


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _errfun(desired, actual):
    """Fahlman's ERRFUN with HyperErr = 1 (quickprop1.c): the error term, desired − actual convention."""
    dif = desired - actual
    return np.where(dif < -0.9999999, -17.0, np.where(dif > 0.9999999, 17.0,
                                                        np.log((1.0 + np.clip(dif, -0.9999999, 0.9999999))
                                                               / (1.0 - np.clip(dif, -0.9999999, 0.9999999)))))


X = np.linspace(-8, 8, 33)


@pytest.mark.parametrize("c", [0.0, 0.1, 0.25])
@pytest.mark.parametrize("fn,prime", [(nn.functional.sigmoid, lambda x: _sig(x) * (1 - _sig(x))),
                                      (nn.functional.tanh, lambda x: 1 - np.tanh(x) ** 2)])
def test_prime_offset_adds_c_to_the_derivative_and_leaves_the_value(fn, prime, c):
    x = rg.tensor(X, requires_grad=True)
    y = fn(x, prime_offset=c)
    plain = fn(rg.tensor(X))
    np.testing.assert_array_equal(y.data, plain.data)                   # bit for bit
    (g,) = rg.autograd_grad(rg.sum(y), [x], create_graph=True)
    np.testing.assert_allclose(g.data, prime(X) + c, rtol=1e-13, atol=1e-16)
    (g2,) = rg.autograd_grad(rg.sum(g), [x])                           # d/dx of the offset derivative
    h = 1e-6
    np.testing.assert_allclose(g2.data, (prime(X + h) - prime(X - h)) / (2 * h), rtol=1e-5, atol=1e-9)


def test_the_offset_derivative_is_wrong_on_purpose_and_gradcheck_says_so():
    x = rg.tensor(np.array([-1.0, 0.3, 2.0]), requires_grad=True)
    assert rg.gradcheck(lambda x: nn.functional.sigmoid(x, prime_offset=0.0), (x,))
    with pytest.raises(GradcheckError):
        rg.gradcheck(lambda x: nn.functional.sigmoid(x, prime_offset=0.1), (x,))


def test_float32_and_no_grad_keep_the_plain_values():
    x = rg.tensor(X.astype(np.float32), requires_grad=True)
    y = nn.Sigmoid(prime_offset=0.1)(x)
    assert y.data.dtype == np.float32
    np.testing.assert_array_equal(y.data, rg.sigmoid(rg.tensor(X.astype(np.float32))).data)
    with rg.no_grad():
        np.testing.assert_array_equal(nn.Sigmoid(prime_offset=0.1)(x).data, y.data)


def test_module_option_prints_saves_and_validates(tmp_path):
    m = nn.Sigmoid(prime_offset=0.1)
    assert repr(m) == "Sigmoid(prime_offset=0.1)" and repr(nn.Sigmoid()) == "Sigmoid()"
    assert describe(nn.Sigmoid()) == {"type": "Sigmoid", "args": {}}
    assert nn.get_activation("logistic", prime_offset=0.1).kw == {"prime_offset": 0.1}
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(prime_offset=0.05), nn.Linear(3, 1), m)
    rg.save(net, tmp_path / "net.safetensors")
    back = rg.load(tmp_path / "net.safetensors")
    assert back[1].kw == {"prime_offset": 0.05} and back[3].kw == {"prime_offset": 0.1}
    for bad in (-0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="prime_offset must be a finite number >= 0"):
            nn.Sigmoid(prime_offset=bad)


def test_atanh_error_value_and_gradient_against_fahlmans_errfun():
    rng = np.random.default_rng(0)
    y = rng.uniform(-0.2, 1.2, (6, 4))
    t = rng.integers(0, 2, (6, 4)).astype(float)
    y[0, :3] = [1.0, 0.0, 0.99999995]                                    # clip boundary and beyond
    t[0, :3] = [0.0, 1.0, 0.0]
    yt = rg.tensor(y, requires_grad=True)
    loss = nn.functional.atanh_error(yt, t)
    loss.backward()
    np.testing.assert_allclose(yt.grad.data, -_errfun(t, y), rtol=1e-12, atol=1e-12)
    d = np.clip(y - t, -0.9999999, 0.9999999)
    smooth = (1 + d) * np.log1p(d) + (1 - d) * np.log1p(-d)
    expect = smooth + 17.0 * (np.abs(y - t) - np.abs(d))
    np.testing.assert_allclose(loss.item(), expect.sum(), rtol=1e-12)
    per = nn.functional.atanh_error(rg.tensor(y), t, reduction="none")
    np.testing.assert_allclose(per.data, expect.sum(axis=1), rtol=1e-12)
    w = rng.uniform(0.5, 2, 6)
    mean = nn.AtanhError(reduction="mean")(rg.tensor(y), t, sample_weight=w)
    np.testing.assert_allclose(mean.item(), (expect.sum(axis=1) * w).sum() / w.sum(), rtol=1e-12)
    assert type(nn.get_loss("atanh")) is nn.AtanhError
    with pytest.raises(ValueError, match="atanh_error: prediction has shape"):
        nn.functional.atanh_error(rg.tensor(y), t[:, :2])


def test_atanh_error_is_smooth_inside_the_clip():
    y = rg.tensor(np.array([[0.2, 0.7], [0.45, 0.1]]), requires_grad=True)
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert rg.gradcheck(lambda y: nn.functional.atanh_error(y, t), (y,), order=2)


def test_both_fixes_give_fahlmans_backward_pass():
    """A 3-4-2 net of his asymmetric sigmoids: autograd slopes = quickprop1.c's BACKWARD_PASS (offset on every unit)."""
    rng = np.random.default_rng(1)
    W1, b1 = rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, 4)
    W2, b2 = rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, 2)
    X = rng.integers(0, 2, (5, 3)).astype(float)
    T = rng.integers(0, 2, (5, 2)).astype(float)
    l1, l2 = nn.Linear(3, 4, dtype=np.float64), nn.Linear(4, 2, dtype=np.float64)
    for p, v in ((l1.weight, W1), (l1.bias, b1), (l2.weight, W2), (l2.bias, b2)):
        p.data[...] = v
    net = nn.Sequential(l1, nn.Sigmoid(prime_offset=0.1), l2, nn.Sigmoid(prime_offset=0.1))
    nn.functional.atanh_error(net(rg.tensor(X)), T).backward()
    slopes = {k: np.zeros_like(v) for k, v in (("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2))}
    for x, goal in zip(X, T):                                            # his per-pattern loop, transcribed
        h = _sig(x @ W1 + b1)
        out = _sig(h @ W2 + b2)
        err_out = (0.1 + out * (1 - out)) * _errfun(goal, out)          # Errors[j] = ACTIVATION_PRIME * ErrorSums
        err_hid = (0.1 + h * (1 - h)) * (W2 @ err_out)
        slopes["W2"] += np.outer(h, err_out)
        slopes["b2"] += err_out
        slopes["W1"] += np.outer(x, err_hid)
        slopes["b1"] += err_hid
    # his slopes are −∂E/∂w (he climbs them); ours are ∂E/∂w
    for p, key in ((l1.weight, "W1"), (l1.bias, "b1"), (l2.weight, "W2"), (l2.bias, "b2")):
        np.testing.assert_allclose(p.grad.data, -slopes[key], rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("name,kw", [("sgd", {"lr": 0.5, "momentum": 0.9}), ("quickprop", {}), ("rprop", {}),
                                     ("supersab", {}), ("lbfgs", {}), ("lm", {})])
def test_every_optimizer_trains_through_the_fixes(name, kw):
    X, T = rg.data.xor()
    rng = np.random.default_rng(3)
    net = nn.Sequential(nn.Linear(2, 3, dtype=np.float64, generator=rng), nn.Sigmoid(prime_offset=0.1),
                        nn.Linear(3, 1, dtype=np.float64, generator=rng), nn.Sigmoid(prime_offset=0.1))
    opt = rg.optim.get(name, net.parameters(), **kw)
    loss = "half_sse" if name == "lm" else "atanh_error"
    h = rg.fit(net, loss, opt, (X, T), epochs=30, mode="batch", quiet=True)
    assert h["loss"][-1] < h["loss"][0]


def test_compiled_replay_matches_eager_through_the_offset():
    X, T = rg.data.parity(3)
    runs = []
    for compile_ in (False, True):
        rng = np.random.default_rng(4)
        net = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, generator=rng), nn.Sigmoid(prime_offset=0.1),
                            nn.Linear(4, 1, dtype=np.float64, generator=rng), nn.Sigmoid(prime_offset=0.1))
        rg.fit(net, "atanh_error", rg.optim.get("sgd", net.parameters(), lr=0.2), (X, T), epochs=5,
               mode="minibatch", batch_size=4, shuffle=False, quiet=True, compile=compile_)
        runs.append([p.data.copy() for p in net.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_per_example_gradients_carry_the_offset():
    """DP-SGD clipping and the other per-example methods see the same offset derivative as a backward pass."""
    rng = np.random.default_rng(5)
    net = nn.Sequential(nn.Linear(3, 4, dtype=np.float64, generator=rng), nn.Sigmoid(prime_offset=0.1),
                        nn.Linear(4, 1, dtype=np.float64, generator=rng), nn.Sigmoid(prime_offset=0.1))
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, (5, 1)).astype(float)
    grads = rg.per_example_grads(net, "atanh_error", X, y)
    for i in range(5):
        net.zero_grad()
        nn.functional.atanh_error(net(rg.tensor(X[i:i + 1])), y[i:i + 1]).backward()
        for g, p in zip(grads, net.parameters()):
            np.testing.assert_allclose(g[i], p.grad.data, rtol=1e-12, atol=1e-15)
