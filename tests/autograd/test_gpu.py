"""The engine on CuPy arrays: forward and backward agree with NumPy (skipped without a GPU)."""
import numpy as np
import pytest

import retrograd as rg

pytestmark = pytest.mark.skipif(not rg.gpu_available(), reason="no CuPy with a working GPU")


def test_mlp_gradients_on_gpu_match_cpu():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)]
    target = np.array([0, 2, 1, 1, 0])
    grads = {}
    for device in ("cpu", "cuda"):
        x, w, b = (rg.tensor(a, requires_grad=True).to(device).detach().requires_grad_() for a in arrays)
        h = rg.tanh(x @ w + b)
        loss = (rg.logsumexp(h, axis=1) - h[np.arange(5), target]).mean() + (rg.sigmoid(h) ** 2).sum()
        loss.backward()
        grads[device] = [t.grad.to("cpu").numpy() for t in (x, w, b)] + [loss.to("cpu").item()]
    for a, b in zip(grads["cpu"], grads["cuda"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_second_order_on_gpu():
    x = rg.tensor(np.array([0.3, -1.2, 2.0])).to("cuda")
    hv = rg.hvp(lambda t: (rg.sin(t) * t ** 2).sum(), x, rg.tensor(np.ones(3)).to("cuda"))
    xs = np.array([0.3, -1.2, 2.0])
    expected = -np.sin(xs) * xs ** 2 + 4 * xs * np.cos(xs) + 2 * np.sin(xs)
    np.testing.assert_allclose(hv.to("cpu").numpy(), expected, rtol=1e-12)


def test_mixing_devices_is_a_clear_error():
    with pytest.raises(rg.OpError, match="different devices"):
        rg.tensor(np.ones(3)).to("cuda") + rg.tensor(np.ones(3))
