"""rg.autocast: which op runs in which dtype, the arithmetic against NumPy on cast arrays, and the gradients.

float16 and bfloat16 (NumPy's through ml_dtypes): the "lower" ops give
exactly what NumPy gives on the arguments cast to the low dtype, the
"float32" ops what it gives in float32, the others what their inputs'
dtypes give; the gradients reach float32 parameters in float32 and equal
those of the same graph written with explicit casts, bit for bit, and the
float32 gradients within the low precision's rounding.
"""
import sys
import threading

import numpy as np
import pytest

import retrograd as rg
from retrograd.autograd import amp
from retrograd.autograd.ops import OPS, conv as conv_ops

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
LOW = [pytest.param("float16", F16, id="float16"), pytest.param("bfloat16", BF16, id="bfloat16")]


def data(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_every_op_declares_its_policy_once():
    listed = [name for names in amp.POLICIES.values() for name in names]
    assert len(listed) == len(set(listed)), "an op is in two autocast lists"
    undeclared = sorted(name for name in OPS if not name.startswith("_") and name not in listed)
    assert not undeclared, (f"ops without an autocast policy: {undeclared}; add each to one list of POLICIES "
                            "in retrograd/autograd/amp.py")
    assert OPS["matmul"].autocast == "lower" and OPS["exp"].autocast == "float32" and OPS["add"].autocast is None


@pytest.mark.parametrize("name,low", LOW)
@pytest.mark.parametrize("sa,sb", [((5, 7), (7, 3)), ((2, 5, 7), (7, 3)), ((2, 5, 7), (2, 7, 4)), ((7,), (7, 3))])
def test_matmul_computes_on_the_arguments_cast_to_the_low_dtype(name, low, sa, sb):
    a, b = data(*sa, seed=1), data(*sb, seed=2)
    with rg.autocast(name):
        out = rg.matmul(rg.tensor(a), rg.tensor(b))
    ref = np.matmul(a.astype(low), b.astype(low)).astype(low)   # (ml_dtypes gives a bfloat16 product in float32)
    assert out.dtype == low and np.array_equal(out.numpy(), ref)


@pytest.mark.parametrize("name,low", LOW)
def test_linear_layer_and_conv_run_in_the_low_dtype(name, low):
    rg.manual_seed(3)
    lin = rg.nn.Linear(6, 4)
    x = data(5, 6, seed=4)
    with rg.autocast(name):
        out = lin(rg.tensor(x))
    ref = (np.matmul(x.astype(low), lin.weight.numpy().astype(low)) + lin.bias.numpy().astype(low)).astype(low)
    assert out.dtype == low and np.array_equal(out.numpy(), ref)
    conv = rg.nn.Conv2d(2, 3, 3, padding=1)
    img = data(2, 2, 5, 5, seed=5)
    with rg.accel.enabled(False), rg.autocast(name):
        out = conv(rg.tensor(img))
    ref = conv_ops.conv.forward(img.astype(low), conv.weight.numpy().astype(low), conv.bias.numpy().astype(low),
                                (1, 1), (1, 1), (1, 1), 1)[0].astype(low)
    assert out.dtype == low and np.array_equal(out.numpy(), ref)
    with rg.autocast(name):                                  # the wing's fused conv: the same dtype, close values
        fast = conv(rg.tensor(img))
    assert fast.dtype == low
    np.testing.assert_allclose(fast.numpy().astype(np.float32), ref.astype(np.float32), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name,low", LOW)
def test_float32_ops_compute_in_float32(name, low):
    x16 = data(4, 5, seed=6).astype(low)
    x32 = x16.astype(np.float32)
    t = rg.tensor(x16)
    with rg.autocast(name):
        cases = {"exp": (rg.exp(t), np.exp(x32)), "log1p": (rg.log1p(rg.abs(t)), np.log1p(np.abs(x32))),
                 "sum": (t.sum(axis=1), x32.sum(axis=1)), "mean": (t.mean(), x32.mean()),
                 "pow": (t ** 2, x32 ** 2), "softplus": (rg.softplus(t), np.logaddexp(0, x32))}
        loss = rg.nn.functional.cross_entropy(t, rg.tensor(np.array([0, 1, 2, 3])))
    for op, (got, want) in cases.items():
        assert got.dtype == np.float32, op
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6, err_msg=op)
    shifted = x32 - x32.max(axis=1, keepdims=True)
    want = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(4), [0, 1, 2, 3]])
    assert loss.dtype == np.float32 and abs(float(loss) - want) < 1e-6


@pytest.mark.parametrize("name,low", LOW)
def test_other_ops_follow_their_inputs_and_float64_is_never_cast(name, low):
    x = rg.tensor(data(3, 4, seed=7).astype(low))
    with rg.autocast(name):
        assert rg.tanh(x).dtype == low and rg.relu(x).dtype == low and x.reshape(4, 3).dtype == low
        assert (x + rg.tensor(data(3, 4, seed=8))).dtype == np.float32      # NumPy's promotion
        a, b = data(3, 4, seed=9, dtype=np.float64), data(4, 2, seed=10, dtype=np.float64)
        out = rg.matmul(rg.tensor(a), rg.tensor(b))
        assert out.dtype == np.float64 and np.array_equal(out.numpy(), a @ b)
        ints = rg.tensor(np.arange(6).reshape(2, 3))
        assert rg.matmul(ints, ints.T).dtype == np.int64
        mixed = rg.matmul(rg.tensor(data(2, 3, seed=11)), data(3, 2, seed=12))     # a bare array is cast too
        assert mixed.dtype == low


@pytest.mark.parametrize("name,low,tol", [("float16", F16, 2e-3), ("bfloat16", BF16, 2e-2)])
def test_gradients_reach_float32_parameters_and_match_explicit_casts_and_float32(name, low, tol):
    rg.manual_seed(11)
    net = rg.nn.Sequential(rg.nn.Linear(8, 16), rg.nn.Tanh(), rg.nn.Linear(16, 5))
    x, y = rg.tensor(data(12, 8, seed=12)), rg.tensor(np.random.default_rng(13).integers(0, 5, 12))

    def grads(loss):
        net.zero_grad()
        loss.backward()
        return [p.grad.numpy() for p in net.parameters()]

    with rg.autocast(name):
        loss = rg.nn.functional.cross_entropy(net(x), y)
    auto = grads(loss)
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in auto)

    def cast(t):
        return t if t.dtype == low else rg.astype(t, low)

    def lin(x, w, b):     # the linear op on cast arguments, its result rounded to the low dtype
        return cast(OPS["linear"](cast(x), cast(w), cast(b)))
    h = rg.tanh(lin(x, net[0].weight, net[0].bias))
    z = lin(h, net[2].weight, net[2].bias)
    explicit = grads(rg.nn.functional.cross_entropy(rg.astype(z, np.float32), y))
    for a, b in zip(auto, explicit):
        assert np.array_equal(a, b)

    full = grads(rg.nn.functional.cross_entropy(net(x), y))
    for a, b in zip(auto, full):
        assert np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max()), (np.abs(a - b).max(), np.abs(b).max())


def test_recurrent_layers_run_in_float16_with_float32_gradients():
    rg.manual_seed(14)
    lstm = rg.nn.LSTM(4, 6, batch_first=True)
    x = rg.tensor(data(3, 5, 4, seed=15))
    with rg.autocast("float16"):
        out, _ = lstm(x)
    assert out.dtype == F16
    out.astype(np.float32).sum().backward()
    auto = [p.grad.numpy() for p in lstm.parameters()]
    lstm.zero_grad()
    full, _ = lstm(x)
    full.sum().backward()
    for a, p in zip(auto, lstm.parameters()):
        assert a.dtype == np.float32
        assert np.abs(a - p.grad.numpy()).max() <= 1e-2 * max(1.0, np.abs(p.grad.numpy()).max())
    np.testing.assert_allclose(out.numpy().astype(np.float32), full.numpy(), atol=5e-3)


def test_backward_runs_in_the_forward_dtypes_wherever_it_is_called():
    w = rg.tensor(data(4, 3, seed=16), requires_grad=True)
    x = rg.tensor(data(2, 4, seed=17))
    with rg.autocast("float16"):
        loss = (rg.tanh(x @ w) ** 2).sum()
        g_inside = rg.autograd_grad(loss, w, retain_graph=True)
        h_inside = rg.autograd_grad(rg.autograd_grad(loss, w, create_graph=True).sum(), w, retain_graph=True)
    g_outside = rg.autograd_grad(loss, w, retain_graph=True)
    h_outside = rg.autograd_grad(rg.autograd_grad(loss, w, create_graph=True).sum(), w)
    assert np.array_equal(g_inside.numpy(), g_outside.numpy()) and g_inside.dtype == np.float32
    assert np.array_equal(h_inside.numpy(), h_outside.numpy())
    full = (rg.tanh(x @ w) ** 2).sum()                     # a float32 forward, differentiated inside autocast
    with rg.autocast("float16"):
        g_recorded = rg.autograd_grad(full, w, create_graph=True)
    assert g_recorded.dtype == np.float32
    assert np.array_equal(g_recorded.numpy(), rg.autograd_grad(full, w, retain_graph=True).numpy())


def test_nesting_disabling_decorating_and_threads():
    x = rg.tensor(data(2, 2, seed=18))
    assert not rg.is_autocast_enabled() and rg.get_autocast_dtype() is None
    seen = {}

    def other_thread():
        seen["dtype"] = (x @ x).dtype

    with rg.autocast("float16"):
        assert rg.get_autocast_dtype() == F16 and (x @ x).dtype == F16
        with rg.autocast("bfloat16"):
            assert rg.get_autocast_dtype() == BF16
            with rg.autocast(enabled=False):
                assert (x @ x).dtype == np.float32 and not rg.is_autocast_enabled()
            assert rg.get_autocast_dtype() == BF16
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert (x @ x).dtype == F16
    assert seen["dtype"] == np.float32 and not rg.is_autocast_enabled()

    @rg.autocast(np.float16)
    def product(a):
        return a @ a
    assert product(x).dtype == F16 and (x @ x).dtype == np.float32


def test_bad_dtypes_and_missing_ml_dtypes_are_reported(monkeypatch):
    for bad in ("float32", np.float64, "int8", 3):
        with pytest.raises(ValueError, match="float16 or bfloat16"):
            rg.autocast(bad)
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)
    with pytest.raises(ImportError, match=r"retrograd\[amp\]"):
        rg.autocast("bfloat16")


@pytest.mark.skipif(not rg.gpu_available(), reason="needs CuPy and a GPU")
def test_float16_on_the_gpu_matches_numpy():
    import cupy
    rg.manual_seed(19)
    net = rg.nn.Sequential(rg.nn.Linear(8, 16), rg.nn.Tanh(), rg.nn.Linear(16, 3))
    x, y = data(10, 8, seed=20), np.random.default_rng(21).integers(0, 3, 10)
    with rg.autocast("float16"):
        loss = rg.nn.functional.cross_entropy(net(rg.tensor(x)), rg.tensor(y))
    loss.backward()
    cpu = [p.grad.numpy() for p in net.parameters()]
    for p in net.parameters():
        p.data, p.grad = cupy.asarray(p.data), None
    with rg.autocast("float16"):
        loss_gpu = rg.nn.functional.cross_entropy(net(rg.tensor(x).to("cuda")), rg.tensor(y).to("cuda"))
    loss_gpu.backward()
    assert abs(float(loss_gpu) - float(loss)) < 1e-3
    for a, p in zip(cpu, net.parameters()):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(cupy.asnumpy(p.grad.data), a, rtol=1e-2, atol=1e-3)
    with pytest.raises(TypeError, match="CuPy has no bfloat16"):
        with rg.autocast("bfloat16"):
            net(rg.tensor(x).to("cuda"))
