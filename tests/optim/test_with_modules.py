"""The optimizers on networks built from rg.nn modules (Sequential, Linear, Tanh, Conv2d), float32 and float64."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.optim.jacobian import residual_jacobian
from sinfit import sin_init


def _sin_model(dtype):
    m = rg.nn.Sequential(rg.nn.Linear(1, 10), rg.nn.Tanh(), rg.nn.Linear(10, 1)).to(dtype)
    # random hidden biases (zero ones make the fit slow: every unit is odd around x = 0)
    for p, a in zip(m.parameters(), sin_init(0)):
        p.data[...] = a
    x = np.linspace(-np.pi, np.pi, 100).reshape(-1, 1).astype(dtype)
    return m, rg.tensor(x), rg.tensor(np.sin(x))


@pytest.mark.parametrize("name", ["lm", "hessian_free"])
def test_residual_methods_fit_a_sequential(name):
    m, x, t = _sin_model(np.float64)
    opt = rg.optim.get(name, m.parameters())
    for _ in range(100):
        opt.step(lambda: (m(x) - t).reshape(-1))
        with rg.no_grad():
            mse = float(((m(x) - t) ** 2).mean().data)
        if mse < 1e-6:
            break
    assert mse < 1e-6


def test_lbfgs_on_a_float32_sequential():
    m, x, t = _sin_model(np.float32)
    opt = rg.optim.LBFGS(m.parameters(), history_size=10, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = rg.nn.functional.mse_loss(m(x), t)
        loss.backward()
        return loss
    start = float(closure().data)
    opt.step(closure)
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert float(closure().data) < start * 1e-2


def test_jacobian_of_a_conv_net_uses_the_exact_fallback():
    rg.manual_seed(1)
    net = rg.nn.Sequential(rg.nn.Conv2d(1, 2, 3, padding=1), rg.nn.Tanh(), rg.nn.Flatten(), rg.nn.Linear(32, 1))
    net = net.to(np.float64)
    X = rg.tensor(np.random.default_rng(0).standard_normal((6, 1, 4, 4)))
    params = list(net.parameters())
    J = residual_jacobian(net(X).reshape(-1), params)
    assert J.shape == (6, sum(p.size for p in params))
    # column block of the last bias is all ones: d out / d b = 1 for every sample
    np.testing.assert_allclose(J[:, -1], 1.0)
    np.testing.assert_allclose(J, residual_jacobian(net(X).reshape(-1), params, method="reverse"), atol=1e-12)


def test_per_sample_jacobian_through_nn_linear_layers():
    """rg.nn.Linear runs as one fused 'linear' primitive: its weight and bias rows still split per sample."""
    import numpy as np
    import retrograd as rg
    from retrograd.optim.jacobian import residual_jacobian
    rg.manual_seed(0)
    net = rg.nn.Sequential(rg.nn.Linear(3, 5), rg.nn.Tanh(), rg.nn.Linear(5, 2)).to(np.float64)
    x = rg.tensor(np.random.default_rng(1).standard_normal((7, 3)))
    params = list(net.parameters())
    fast = residual_jacobian(net(x), params, method="per_sample")
    exact = residual_jacobian(net(x).reshape(-1), params, method="reverse")
    np.testing.assert_allclose(fast, exact, rtol=1e-12, atol=1e-14)
