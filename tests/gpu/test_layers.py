"""Every layer and every loss on the GPU against the CPU: float64 to 1e-10, float32 to 1e-5, kernels on and off."""
import numpy as np
import pytest

import retrograd as rg

from tests.gpu.cases import LAYERS, LOSSES, run_layer, run_loss

TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _compare(cpu, gpu, tol, what):
    assert cpu.keys() == gpu.keys(), what
    for key in cpu:
        c, g = cpu[key], gpu[key]
        assert c.shape == g.shape and c.dtype == g.dtype, f"{what}: {key}"
        scale = max(1.0, float(np.abs(c).max())) if c.size else 1.0
        np.testing.assert_allclose(g, c, rtol=tol, atol=tol * scale, err_msg=f"{what}: {key}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
@pytest.mark.parametrize("case", LAYERS, ids=lambda c: c.name)
def test_layer_on_gpu_matches_cpu(case, dtype, kernels):
    cpu = run_layer(case, "cpu", dtype)
    with rg.accel.enabled(kernels):
        gpu = run_layer(case, "cuda", dtype)
    _compare(cpu, gpu, TOL[dtype], case.name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
@pytest.mark.parametrize("case", LOSSES, ids=lambda c: c.name)
def test_loss_on_gpu_matches_cpu(case, dtype, kernels):
    cpu = run_loss(case, "cpu", dtype)
    with rg.accel.enabled(kernels):
        gpu = run_loss(case, "cuda", dtype)
    _compare(cpu, gpu, TOL[dtype], case.name)


def test_an_out_of_range_class_on_the_gpu_gives_nan_not_garbage():
    z = rg.tensor(np.zeros((3, 4)), device="cuda")
    t = rg.tensor(np.array([0, 4, 1]), device="cuda")
    with rg.accel.enabled(True):           # the kernel's answer (the reference's is CuPy's indexing)
        values = rg.nn.functional.cross_entropy(z, t, reduction="none").numpy()
    assert np.isnan(values[1]) and np.allclose(values[[0, 2]], np.log(4))


def test_dropout_on_the_gpu_draws_on_the_device_from_retrograd_seed():
    x = rg.tensor(np.ones((64, 32), np.float32), device="cuda")
    masks = []
    for seed in (3, 3, 4):
        rg.manual_seed(seed)
        layer = rg.nn.Dropout(0.25)
        y = layer(x)
        assert y.device == "cuda"
        masks.append(y.numpy())
    np.testing.assert_array_equal(masks[0], masks[1])                  # same seed, same mask
    assert not np.array_equal(masks[0], masks[2])
    kept = masks[0] != 0
    assert 0.65 < kept.mean() < 0.85 and np.allclose(masks[0][kept], 1 / 0.75)
    own = rg.nn.Dropout(0.5, generator=11)
    a, b = own(x).numpy(), own(x).numpy()
    assert not np.array_equal(a, b)                                     # one device stream per layer
