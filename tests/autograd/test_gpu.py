"""The engine on CuPy arrays: forward, gradients, higher orders and optimizer steps agree with NumPy
(skipped without a GPU)."""
import numpy as np
import pytest

import retrograd as rg

from .op_cases import CASES, draw_inputs_of

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


# --------------------------------------------------------------------- every op of the table, CPU vs CUDA
#
# The rows of tests/autograd/op_cases.py (elementwise, reductions, softmax family, matmul in every
# rank combination, shapes, indexing) run in float64 on both devices: the forward, the gradient
# from an ordinary backward (the VJP rules on raw arrays) and, through create_graph, a second-order
# product (the same rules recorded on Tensors). The GPU must give the CPU's numbers.

RTOL, ATOL = 1e-10, 1e-12


def _case_inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    if case.shapes == "broadcast":
        shapes = [(2, 1, 3), (4, 1)][:case.arity]
    elif case.shapes == "reduce":
        shapes = [(3, 4, 2)]
    elif case.shapes == "fixed":
        shapes = list(case.fixed_shapes)
    else:
        shapes = [(2, 3, 4)]
    return draw_inputs_of(rng, case, shapes)


def _host(t):
    return None if t is None else t.to("cpu").numpy()


def _on(device, *tensors):
    for t in tensors:
        if t is not None:
            assert t.device == device, f"a result on {t.device}, expected {device}"
            assert t.dtype == np.float64 or t.dtype.kind in "bi", t.dtype


def _run_case(case, inputs, device):
    """(forward, first-order gradients, second-order products) of ``case`` on ``device``, on the host."""
    rng = np.random.default_rng(1)
    xs = [rg.tensor(a, requires_grad=True, device=device) for a in inputs]
    out = case.fn(*xs)
    _on(device, out)
    result = {"out": _host(out)}
    if not out.requires_grad:
        return result
    cot = rg.tensor(rng.standard_normal(out.shape), device=device)
    out.backward(cot)                                   # VJP rules on raw arrays
    _on(device, *(x.grad for x in xs))
    result["grad"] = [_host(x.grad) for x in xs]
    if case.order >= 2:
        # the same rules recorded on Tensors, then differentiated: sum(out * (cot + out)) has a
        # nonzero Hessian even for linear ops, so the VJPs of their VJP rules run too
        xs = [rg.tensor(a, requires_grad=True, device=device) for a in inputs]
        out = case.fn(*xs)
        first = rg.autograd_grad(rg.sum(out * (cot + out)), xs, create_graph=True)
        _on(device, *first)
        result["first_recorded"] = [_host(g) for g in first]
        vs = [rg.tensor(rng.standard_normal(a.shape), device=device) for a in inputs]
        terms = [rg.sum(g * v) for g, v in zip(first, vs) if g is not None and g.requires_grad]
        if terms:
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            second = rg.autograd_grad(total, xs)
            _on(device, *second)
            result["second"] = [_host(s) for s in second]
    return result


def _assert_same(cpu, gpu, what):
    assert cpu.keys() == gpu.keys(), f"{what}: CPU computed {sorted(cpu)}, GPU {sorted(gpu)}"
    np.testing.assert_allclose(gpu["out"], cpu["out"], rtol=RTOL, atol=ATOL, err_msg=f"{what}: forward")
    for key in ("grad", "first_recorded", "second"):
        for i, (c, g) in enumerate(zip(cpu.get(key, []), gpu.get(key, []))):
            if c is None or g is None:
                assert c is None and g is None, f"{what}: {key} of input {i} missing on one device"
                continue
            assert g.shape == c.shape, f"{what}: {key} of input {i} has shape {g.shape}, CPU {c.shape}"
            np.testing.assert_allclose(g, c, rtol=RTOL, atol=ATOL, err_msg=f"{what}: {key} of input {i}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_op_forward_gradient_and_second_order_match_cpu(case):
    inputs = _case_inputs(case)
    cpu = _run_case(case, inputs, "cpu")
    gpu = _run_case(case, inputs, "cuda")
    _assert_same(cpu, gpu, case.name)
    if case.name not in ("sign",):                      # sign alone has no gradient to compare
        assert "grad" in gpu and any(np.any(g) for g in gpu["grad"] if g is not None)


@pytest.mark.filterwarnings("error::DeprecationWarning")     # cupyx.scatter_add is deprecated: add.at
def test_index_arrays_on_the_gpu_and_repeated_indices_accumulate():
    a = np.arange(12.0).reshape(3, 4) / 7
    x = rg.tensor(a, requires_grad=True, device="cuda")
    rows = rg.tensor(np.array([2, 0, 2, 2]), device="cuda")           # an index tensor on the GPU
    cols = np.array([1, 3, 1, 1])
    y = x[rows, cols] * rg.tensor(np.array([1.0, 2.0, 3.0, 4.0]), device="cuda")
    y.sum().backward()
    expected = np.zeros((3, 4))
    np.add.at(expected, (np.array([2, 0, 2, 2]), cols), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(x.grad.to("cpu").numpy(), expected)
    np.testing.assert_array_equal(y.to("cpu").numpy(), a[[2, 0, 2, 2], cols] * [1, 2, 3, 4])


def test_comparisons_and_argmax_on_gpu():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    ta, tb = rg.tensor(a, device="cuda"), rg.tensor(b, device="cuda")
    for got, want in [(ta > tb, a > b), (ta <= tb, a <= b), (rg.equal(ta, ta), np.ones_like(a, bool)),
                      (rg.not_equal(ta, tb), a != b), (rg.argmax(ta, axis=1), a.argmax(1)),
                      (rg.argmin(ta, axis=0, keepdims=True), a.argmin(0)[None]), (rg.argmax(ta), a.argmax())]:
        assert got.device == "cuda"
        np.testing.assert_array_equal(got.to("cpu").numpy(), want)
    assert ta.max().item() == a.max() and float(ta.sum()) == pytest.approx(a.sum(), rel=1e-14)


def test_gradients_cross_devices_through_to():
    a, w = np.array([0.5, -1.0, 2.0]), np.array([3.0, 0.25, -2.0])
    x = rg.tensor(a, requires_grad=True)                              # leaf on the CPU
    wg = rg.tensor(w, requires_grad=True, device="cuda")              # leaf on the GPU
    loss = (x.to("cuda") * wg).sum() + (wg.to("cpu") ** 2).sum().to("cuda")
    assert loss.device == "cuda"
    loss.backward()
    assert x.grad.device == "cpu" and wg.grad.device == "cuda"
    np.testing.assert_array_equal(x.grad.numpy(), w)
    np.testing.assert_array_equal(wg.grad.to("cpu").numpy(), a + 2 * w)


# --------------------------------------------------------------------- transforms and higher orders


def _transform_results(device):
    rng = np.random.default_rng(5)
    x = rg.tensor(rng.standard_normal((4, 3)), device=device)
    w0 = rng.standard_normal((3, 2))
    v = rg.tensor(rng.standard_normal((3, 2)), device=device)

    def f(w):
        h = rg.tanh(x @ w)
        picked = rg.sigmoid(h[np.array([0, 2, 2]), 1:]) * h[np.array([1, 1, 3]), :1]
        return rg.logsumexp(h, axis=1).mean() + picked.sum()

    w = rg.tensor(w0, requires_grad=True, device=device)
    g = rg.grad(f)(w)                                  # w requires grad: the gradient is recorded
    penalty = (g * g).sum()
    penalty.backward()                                 # gradient-norm penalty: a second-order term
    out = {"grad": g, "penalty_grad": w.grad}
    wd = rg.tensor(w0, device=device)
    out["hvp"] = rg.hvp(f, wd, v)
    out["jvp"] = rg.jvp(f, (wd,), (v,))[1]
    out["grad_of_grad_sum"] = rg.grad(lambda t: rg.grad(f)(t).sum())(wd)
    out["third"] = rg.grad(lambda t: (rg.hvp(f, t, v) ** 2).sum())(wd)   # a third derivative
    out["jacobian"] = rg.jacobian(lambda t: rg.tanh(x @ t))(wd)           # row by row: seeds on the GPU
    out["hessian"] = rg.hessian(f)(wd)
    for t in out.values():
        assert t.device == device
    return {k: t.to("cpu").numpy() for k, t in out.items()}


def test_transforms_and_higher_orders_match_cpu():
    cpu, gpu = _transform_results("cpu"), _transform_results("cuda")
    assert cpu["jacobian"].shape == (4, 2, 3, 2) and cpu["hessian"].shape == (3, 2, 3, 2)
    for key in cpu:
        assert np.any(cpu[key]), key
        np.testing.assert_allclose(gpu[key], cpu[key], rtol=RTOL, atol=ATOL, err_msg=key)


# --------------------------------------------------------------------- optimizers stepping GPU tensors

OPTIMIZERS = {
    "sgd_nesterov": lambda ps: rg.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "sgd_dampened": lambda ps: rg.optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.1, weight_decay=1e-2),
    "adam": lambda ps: rg.optim.Adam(ps, lr=0.05),
    "amsgrad_clip_wd": lambda ps: rg.optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=1e-2, clip_norm=0.5),
    "adamw_clip_value": lambda ps: rg.optim.AdamW(ps, lr=0.05, clip_value=0.3),
    "rmsprop_centered": lambda ps: rg.optim.RMSprop(ps, lr=0.01, centered=True, momentum=0.5),
}


def _train(make, device, steps=6):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal((5, 2))]
    x = rg.tensor(rng.standard_normal((8, 3)), device=device)
    y = rg.tensor(rng.standard_normal((8, 2)), device=device)
    params = [rg.tensor(a, requires_grad=True, device=device) for a in arrays]
    opt = make(params)

    def closure():
        opt.zero_grad()
        loss = ((rg.tanh(x @ params[0] + params[1]) @ params[2] - y) ** 2).mean()
        loss.backward()
        return loss
    losses = [opt.step(closure) for _ in range(steps)]
    for p in params:
        assert p.device == device and p.dtype == np.float64
    return losses, [p.to("cpu").numpy() for p in params], arrays


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_on_gpu_match_cpu(name):
    cpu_losses, cpu_params, start = _train(OPTIMIZERS[name], "cpu")
    gpu_losses, gpu_params, _ = _train(OPTIMIZERS[name], "cuda")
    assert all(isinstance(v, float) for v in gpu_losses)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=RTOL, atol=ATOL)
    assert gpu_losses[-1] < gpu_losses[0]
    for c, g, s in zip(cpu_params, gpu_params, start):
        assert not np.allclose(g, s)                    # the parameters did move
        np.testing.assert_allclose(g, c, rtol=RTOL, atol=ATOL)
