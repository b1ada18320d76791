"""Every optimizer of the registry stepping a network on the GPU, against the same steps on the CPU.

float64 to 1e-10 and float32 to 1e-5 (relative to the parameters' scale), with the GPU kernels on
and off; the second-order methods' Jacobians, JᵀJ and solves run on the device.
"""
import numpy as np
import pytest

import retrograd as rg
from retrograd import backend

TOL = {np.float64: 1e-10, np.float32: 1e-5}
HYPER = {"sgd": {"lr": 0.05, "momentum": 0.9}, "adam": {"lr": 0.01}, "lbfgs": {"line_search_fn": "strong_wolfe"}}


def _run(name, device, dtype, steps=4):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 3)).astype(dtype)
    Y = np.tanh(X @ rng.standard_normal((3, 2))).astype(dtype)
    model = rg.nn.Sequential(rg.nn.Linear(3, 6, dtype=dtype, generator=1), rg.nn.Tanh(),
                             rg.nn.Linear(6, 2, dtype=dtype, generator=2))
    opt = rg.optim.get(name, model.parameters(), **HYPER.get(name, {}))     # built before the move
    model.to(device)
    x, y = rg.tensor(X, device=device), rg.tensor(Y, device=device)
    if opt.closure_kind == "residuals":
        def closure():
            return model(x) - y
    else:
        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss
    losses = [float(opt.step(closure)) for _ in range(steps)]
    for st in opt.state.values():
        for v in st.values():
            if hasattr(v, "shape") and v.shape:
                assert backend.device_of(v) == device.split(":")[0], f"{name}: state left on the host"
    return np.array(losses), [backend.to_host(p.data) for p in model.parameters()]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "reference"])
@pytest.mark.parametrize("name", rg.optim.names())
def test_optimizer_on_gpu_matches_cpu(name, dtype, kernels):
    cpu_losses, cpu_params = _run(name, "cpu", dtype)
    with rg.accel.enabled(kernels):
        gpu_losses, gpu_params = _run(name, "cuda", dtype)
    tol = TOL[dtype]
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=tol * 10, atol=tol)
    for c, g in zip(cpu_params, gpu_params):
        np.testing.assert_allclose(g, c, rtol=tol * 10, atol=tol * max(1.0, float(np.abs(c).max())))


def test_optimizer_state_moves_back_and_forth_with_the_model():
    model = rg.nn.Linear(3, 2, dtype=np.float64, generator=0)
    opt = rg.optim.Adam(model.parameters(), lr=0.1)
    x = rg.tensor(np.ones((4, 3)))

    def step():
        opt.zero_grad()
        loss = (model(x.to(model.weight.device)) ** 2).sum()
        loss.backward()
        opt.step()
    step()
    model.to("cuda")
    step()                                                              # the state follows by itself
    assert all(backend.device_of(v) == "cuda" for st in opt.state.values() for v in st.values() if hasattr(v, "shape"))
    model.to("cpu")
    opt.to("cpu")
    step()
    assert all(type(v) is np.ndarray for st in opt.state.values() for v in st.values() if hasattr(v, "shape"))
