"""The per-sample Jacobian's outer products written by several threads (accel/jacobian.py) give the same J."""
import numpy as np

import retrograd as rg
from retrograd.optim.jacobian import residual_jacobian
from tests.optim.helpers import params_from
from tests.optim.sinfit import sin_net


def test_threaded_outer_products_give_the_same_jacobian(monkeypatch):
    from retrograd.accel import jacobian as fast
    monkeypatch.setattr(fast, "THREADED_ABOVE", 16)
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
