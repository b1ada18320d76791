"""The compiled LSTM loops (lstm_native.py, lstm_kernel.c): same results as the NumPy loops and as torch, split batches, extremes."""
import os

import numpy as np
import pytest

import retrograd as rg
from retrograd.accel import lstm_native as native
from retrograd.accel import recurrent as fast
from retrograd.autograd.ops.registry import ARRAY_MATH

needs_native = pytest.mark.skipif(not native.available(), reason="the compiled LSTM kernel was not built")
ALL = (True,) * 7


def _case(T, B, n_in, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, n_in)).astype(dtype)
    w_ih = (rng.standard_normal((4 * H, n_in)) * 0.3).astype(dtype)
    w_hh = (rng.standard_normal((4 * H, H)) * 0.3).astype(dtype)
    b_ih, b_hh = (rng.standard_normal(4 * H) * 0.1).astype(dtype), (rng.standard_normal(4 * H) * 0.1).astype(dtype)
    h0, c0 = rng.standard_normal((B, H)).astype(dtype), rng.standard_normal((B, H)).astype(dtype)
    g = rng.standard_normal((2, T, B, H)).astype(dtype)
    return (x, h0, c0, w_ih, w_hh, b_ih, b_hh), g


def _run(inputs, g, reverse, needs=ALL, compiled=True):
    """Forward states (2, T, B, H) and saved activations, then the gradients in ``needs``, as fresh copies:
    by the compiled loops, or by the NumPy loops of the same layout."""
    forward, vjp = (fast.native_forward, fast.native_vjp) if compiled else (fast.numpy_forward, fast.numpy_vjp)
    states, acts = forward(*inputs, reverse=reverse)
    grads = vjp(ARRAY_MATH, needs, g, states, *inputs, reverse=reverse, saved=acts)
    return [np.array(states), acts.copy()] + [None if a is None else np.array(a) for a in grads]


def test_the_ci_build_has_the_kernel():
    """CI sets RETROGRAD_REQUIRE_NATIVE=1: there a missing kernel is a failed build, not a silent fallback."""
    if os.environ.get("RETROGRAD_REQUIRE_NATIVE") != "1":
        pytest.skip("RETROGRAD_REQUIRE_NATIVE is not set")
    assert native.available()


@needs_native
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("T,B,n_in,H", [(5, 3, 4, 6), (4, 21, 5, 9), (7, 32, 32, 128), (3, 1, 2, 3), (6, 40, 3, 7)])
def test_same_results_as_the_numpy_loops(T, B, n_in, H, dtype, reverse):
    """Batches above two vectors are split over two threads, with a ragged last vector (B = 21, 40)."""
    inputs, g = _case(T, B, n_in, H, dtype)
    assert native.usable(*inputs)
    compiled = _run(inputs, g, reverse)
    reference = _run(inputs, g, reverse, compiled=False)
    tol = 1e-12 if dtype == np.float64 else 3e-6
    for name, a, b in zip(["states", "acts", "dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh"],
                          compiled, reference):
        assert a.dtype == b.dtype == dtype, name
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()), err_msg=name)


@needs_native
@pytest.mark.parametrize("reverse", [False, True])
def test_a_zero_start_without_dh0_matches_the_numpy_loops(reverse):
    """The usual case: h0 = 0 (the first step skips W_hh) and no dh0 wanted (the last product is skipped)."""
    inputs, g = _case(6, 40, 5, 13, np.float64, seed=2)
    inputs = (inputs[0], np.zeros_like(inputs[1])) + inputs[2:]
    needs = (True, False) + ALL[2:]
    compiled = _run(inputs, g, reverse, needs)
    reference = _run(inputs, g, reverse, needs, compiled=False)
    assert compiled[3] is None and reference[3] is None                 # dh0
    for name, a, b in zip(["states", "acts", "dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh"],
                          compiled, reference):
        if b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(b).max()), err_msg=name)


@needs_native
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_split_batch_against_torch(dtype):
    """50 steps, batch 37 (two threads and a ragged tail), bidirectional: outputs and all gradients."""
    torch = pytest.importorskip("torch")
    from tests.nn.conftest import assert_close
    T, B, I, H = 50, 37, 6, 20
    m = rg.nn.LSTM(I, H, bidirectional=True, dtype=dtype)
    t = torch.nn.LSTM(I, H, bidirectional=True).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for n, p in m.named_parameters():
            getattr(t, n).copy_(torch.tensor(p.data))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    w = rng.standard_normal((T, B, 2 * H)).astype(dtype)
    ours, theirs = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, (hn, cn) = m(ours)
    tout, (thn, tcn) = t(theirs)
    ((out * rg.tensor(w)).sum() + cn.sum()).backward()
    ((tout * torch.tensor(w)).sum() + tcn.sum()).backward()
    assert_close(out, tout, dtype, "output")
    assert_close(cn, tcn, dtype, "c_n")
    assert_close(ours.grad, theirs.grad, dtype, "grad x")
    for n, p in m.named_parameters():
        assert_close(p.grad, getattr(t, n).grad, dtype, f"grad {n}")


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates_stay_finite_and_nan_propagates(dtype):
    inputs, g = _case(4, 19, 3, 5, dtype)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = inputs
    huge = (x * 1e4, h0, c0, w_ih * 1e4, w_hh * 1e4, b_ih, b_hh)   # pre-activations of order +-1e8
    out = _run(huge, g, False)
    for a in out:
        assert np.isfinite(a).all()
    h = out[0][0]
    assert np.abs(h).max() <= 1.0
    x_nan = x.copy()
    x_nan[1, 4] = np.nan                                           # batch column 4 from step 1 on
    states, _ = fast.native_forward(x_nan, *inputs[1:])
    assert np.isnan(states[:, 1:, 4]).all()
    assert np.isfinite(np.delete(states, 4, axis=2)).all()
    assert np.isfinite(states[:, 0]).all()


@needs_native
@pytest.mark.parametrize("which", ["out[-1]", "out[3]", "h_n", "c_n", "c_n bidirectional"])
def test_one_live_step_reaches_the_kernel_alone(monkeypatch, which):
    """A loss on one step of the states (the usual out[-1]) passes the kernel that step's
    cotangent only (accel/scattered.py): the gradients are those of the dense cotangent."""
    from retrograd.accel import scattered
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((9, 20, 4)).astype(np.float32)
    m = rg.nn.LSTM(4, 7, bidirectional=which.endswith("bidirectional"))
    pick = {"out[-1]": lambda out, h, c: out[-1], "out[3]": lambda out, h, c: out[3], "h_n": lambda out, h, c: h,
            "c_n": lambda out, h, c: c, "c_n bidirectional": lambda out, h, c: c}[which]
    weights = rng.standard_normal(pick(*_unpack(m(rg.tensor(x0)))).shape).astype(np.float32)

    def grads():
        m.zero_grad()
        x = rg.tensor(x0, requires_grad=True)
        (pick(*_unpack(m(x))) * rg.tensor(weights)).sum().backward()
        return [x.grad.numpy()] + [p.grad.numpy() for p in m.parameters()]

    live = []
    real = native.lstm_backward
    monkeypatch.setattr(native, "lstm_backward", lambda *a, **k: live.append(a[5]) or real(*a, **k))
    lazy = grads()
    assert [len(gh if gh is not None else gc) for gh, gc, _ in live] == [1] * len(live)
    monkeypatch.setattr(scattered, "through_getitem", lambda g, index, shape: None)   # every getitem eager
    live.clear()
    eager = grads()
    assert [len(gh) for gh, _, _ in live] == [9] * len(live)
    for a, b in zip(lazy, eager):
        np.testing.assert_array_equal(a, b)


def _unpack(result):
    out, (h, c) = result
    return out, h, c


def _forward_backward(inputs, g):
    """States and every gradient from the compiled kernels, as fresh arrays."""
    return [np.array(a) for a in _run(inputs, g, False) if a is not None]


@needs_native
def test_calls_from_several_threads_at_once_give_the_single_thread_results():
    """The library's one worker serves one call at a time; a call that finds it busy runs both
    halves itself (pair_worker.h). Either way the arithmetic, and so every bit, is the same."""
    import threading
    inputs, g = _case(12, 32, 5, 24, np.float32, seed=7)
    expected = _forward_backward(inputs, g)
    failures = []

    def hammer():
        for _ in range(25):
            got = _forward_backward(inputs, g)
            if not all(np.array_equal(a, b) for a, b in zip(got, expected)):
                failures.append(got)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


@needs_native
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_worker():
    """The parent's worker thread does not exist in a forked child: the child's first call
    starts one (else it would wait for the parent's forever) and gets the parent's results."""
    inputs, g = _case(6, 40, 3, 8, np.float64, seed=8)
    expected = _forward_backward(inputs, g)                   # the parent's worker is running now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            got = _forward_backward(inputs, g)
            code = 0 if all(np.array_equal(a, b) for a, b in zip(got, expected)) else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    os.close(write)
    import select
    ready, _, _ = select.select([read], [], [], 20)
    if not ready:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert ready, "the forked child's call did not finish within 20 s"
    assert os.read(read, 1) == b"\x00"
