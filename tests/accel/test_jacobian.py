"""Outer products written by several threads (accel/jacobian.py): the same Jacobian and per-example gradients."""
import numpy as np

import retrograd as rg
from retrograd.optim.jacobian import residual_jacobian
from tests.optim.helpers import params_from
from tests.optim.sinfit import sin_net


def test_threaded_outer_products_give_the_same_jacobian(monkeypatch):
    from retrograd.accel import jacobian as fast
    monkeypatch.setattr(fast, "THREADED_ABOVE", 16)
    monkeypatch.setattr(fast, "WORKERS", 3)                  # even on one core
    pools = []
    real = fast.helper_thread
    monkeypatch.setattr(fast, "helper_thread", lambda *a: pools.append(a) or real(*a))
    rng = np.random.default_rng(2)
    params = params_from([rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal((5, 1)),
                          rng.standard_normal(1)])
    r = sin_net(params, rg.tensor(rng.standard_normal((11, 3)))).reshape(-1)
    threaded = residual_jacobian(r, params, method="per_sample")
    assert pools                                              # the threaded version ran
    np.testing.assert_allclose(threaded, residual_jacobian(r, params, method="reverse"), rtol=1e-12, atol=1e-12)
    with rg.accel.enabled(False):
        np.testing.assert_array_equal(residual_jacobian(r, params, method="per_sample"), threaded)


def test_threaded_outer_products_give_the_same_per_example_gradients(monkeypatch):
    from retrograd.accel import jacobian as fast
    rng = np.random.default_rng(3)
    model = rg.nn.Sequential(rg.nn.Linear(7, 9, dtype=np.float64, generator=rng), rg.nn.Tanh(),
                             rg.nn.Linear(9, 2, dtype=np.float64, generator=rng))
    X, y = rng.standard_normal((13, 7)), rng.standard_normal((13, 2))
    plain = rg.per_example_grads(model, "mse", X, y, method="vectorized")
    monkeypatch.setattr(fast, "THREADED_ABOVE", 16)
    monkeypatch.setattr(fast, "WORKERS", 3)
    pools = []
    real = fast.helper_thread
    monkeypatch.setattr(fast, "helper_thread", lambda *a: pools.append(a) or real(*a))
    threaded = rg.per_example_grads(model, "mse", X, y, method="vectorized")
    assert pools
    for a, b in zip(threaded, plain):
        np.testing.assert_array_equal(a, b)
