"""The recurrent layers' fast versions (accel/recurrent.py, accel/workspace.py, accel/blas.py): every path gives the reference's results."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.accel import lstm_native
from retrograd.accel import recurrent as fast
from retrograd.accel.workspace import CACHE_LINE, recycled, scratch

rng = np.random.default_rng(9)


def _lstm_run(m, x, h0, c0):
    """Output, every input's and parameter's gradient, for a loss on the whole output and c_n."""
    m.zero_grad()
    ins = [rg.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    out, (hn, cn) = m(ins[0], (ins[1], ins[2]))
    ((out * out).sum() + cn.sum() + (hn[-1] * 2.0).sum()).backward()
    return [out.data.copy()] + [a.grad.data.copy() for a in ins] + [p.grad.data.copy() for p in m.parameters()]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("path", ["compiled", "numpy"])
def test_each_lstm_path_gives_the_reference_results(monkeypatch, dtype, path):
    """Two layers, bidirectional: the compiled loops and the NumPy loops against the reference op."""
    if path == "compiled" and not lstm_native.available():
        pytest.skip("the compiled LSTM kernel was not built")
    if path == "numpy":
        monkeypatch.setattr(lstm_native, "_LIB", None)
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=dtype)
    x, h0, c0 = rng.standard_normal((7, 4, 3)), rng.standard_normal((4, 4, 5)), rng.standard_normal((4, 4, 5))
    x, h0, c0 = (a.astype(dtype) for a in (x, h0, c0))
    used = []
    real_backward = lstm_native.lstm_backward
    monkeypatch.setattr(lstm_native, "lstm_backward", lambda *a, **k: used.append("compiled") or real_backward(*a, **k))
    ours = _lstm_run(m, x, h0, c0)
    assert ("compiled" in used) == (path == "compiled")
    with rg.accel.enabled(False):
        reference = _lstm_run(m, x, h0, c0)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("kind", ["GRU", "RNN"])
def test_gru_and_rnn_give_the_reference_bits(kind):
    """Their fast version is the reference with BLAS on one thread: the same arithmetic."""
    m = getattr(nn, kind)(3, 4, num_layers=2, dtype=np.float64)
    x = rng.standard_normal((6, 2, 3))
    runs = []
    for on in (True, False):
        m.zero_grad()
        with rg.accel.enabled(on):
            xa = rg.tensor(x, requires_grad=True)
            out, hn = m(xa)
            ((out * out).sum() + hn.sum()).backward()
        runs.append([out.data, xa.grad.data] + [p.grad.data for p in m.parameters()])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_blas_thread_setting_is_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    nn.LSTM(2, 3)(rg.tensor(np.ones((4, 2, 2), dtype=np.float32)))[0].sum().backward()
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert before == after


@pytest.mark.parametrize("bi", [False, True])
def test_lstm_background_jobs_give_the_same_results(monkeypatch, bi):
    """Large sequences run their batched GEMMs on a background thread, chunk by chunk, beside the loop
    (the NumPy loops: the compiled ones are switched off here)."""
    monkeypatch.setattr(lstm_native, "_LIB", None)
    m = nn.LSTM(3, 4, bidirectional=bi, dtype=np.float64)
    D = 2 if bi else 1
    x, h0, c0 = rng.standard_normal((13, 2, 3)), rng.standard_normal((D, 2, 4)), rng.standard_normal((D, 2, 4))

    def run():
        m.zero_grad()
        ins = [rg.tensor(a, requires_grad=True) for a in (x, h0, c0)]
        out, (hn, cn) = m(ins[0], (ins[1], ins[2]))
        ((out * out).sum() + cn.sum()).backward()
        return [out.data.copy()] + [a.grad.data.copy() for a in ins] + [p.grad.data.copy() for p in m.parameters()]

    inline = run()
    monkeypatch.setattr(fast, "OVERLAP_ABOVE", 0)
    helpers = []
    real = fast.helper_thread
    monkeypatch.setattr(fast, "helper_thread", lambda name: helpers.append(name) or real(name))
    background = run()
    assert helpers                                            # the jobs went to the helper thread
    for a, b in zip(inline, background):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_recycled_arrays_come_back_only_when_nobody_holds_them():
    a = recycled("test", (3, 4), np.float64)
    address = a.__array_interface__["data"][0]
    view = a[1:]
    b = recycled("test", (3, 4), np.float64)
    del a
    c = recycled("test", (3, 4), np.float64)                  # a's memory is still seen through view
    assert address not in [x.__array_interface__["data"][0] for x in (b, c)]
    del view
    d = recycled("test", (3, 4), np.float64)
    assert d.__array_interface__["data"][0] == address
    assert not np.shares_memory(d, b) and not np.shares_memory(d, c)


def test_work_arrays_start_on_a_cache_line():
    """The LSTM kernel's two threads write the two halves of every row of these arrays: a row
    half must not share a 64-byte line with the other (NumPy's own large arrays start 16 bytes
    past one)."""
    for shape in [(50, 5, 128, 32), (7, 3), (1 << 16,)]:
        for make in (recycled, scratch):
            a = make("test_aligned", shape, np.float32)
            assert a.shape == shape and a.dtype == np.float32 and a.flags.c_contiguous
            assert a.__array_interface__["data"][0] % CACHE_LINE == 0


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_lstm_background_thread_works_in_a_forked_child(monkeypatch):
    import os
    monkeypatch.setattr(lstm_native, "_LIB", None)
    monkeypatch.setattr(fast, "OVERLAP_ABOVE", 0)
    m = nn.LSTM(3, 4, dtype=np.float64)
    x = rg.tensor(rng.standard_normal((9, 2, 3)))
    m(x)[0].sum().backward()                                  # the parent starts its worker
    pid = os.fork()
    if pid == 0:                                              # the child must not wait on the parent's thread
        code = 1
        try:
            m(x)[0].sum().backward()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert status == 0
