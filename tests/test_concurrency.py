"""Training in several threads or forked processes at once gives the sequential bits; grad mode and recording are per thread.

The jobs cover every piece of shared state the engine and the wing keep: the
grad mode and the trace recorders (per thread), fit's compiled step and its
shelf of programs, the packed Adam and its compiled kernel, the LSTM's
compiled loops and their worker thread, the convolution's helper thread, the
pooled work arrays, and BLAS's thread limit (one setting for the process).
"""
import multiprocessing
import os
import random
import sys
import threading

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn


class _LastStep(nn.Module):
    """LSTM over the sequence, a linear head on its last step (W4's shape, small)."""

    def __init__(self, seed):
        super().__init__()
        gen = np.random.default_rng(seed)
        self.lstm = nn.LSTM(3, 8, generator=gen)
        self.head = nn.Linear(8, 1, generator=gen)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def _mlp_job(seed):
    """Compiled (replayed) step, packed Adam with its compiled update, validation under no_grad."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((96, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0)
    gen = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(6, 16, generator=gen), nn.Tanh(), nn.Linear(16, 3, generator=gen))
    hist = rg.fit(model, "cross_entropy", rg.optim.Adam(model.parameters(), lr=0.01), (X, y), epochs=4,
                  batch_size=16, quiet=True, validation_data=(X[:32], y[:32]), metrics=["accuracy"], seed=seed)
    return [p.data.copy() for p in model.parameters()] + [np.array(hist["loss"]), np.array(hist["val_loss"])]


def _lstm_job(seed):
    """The LSTM's compiled loops (one worker thread for the process) and lazy cotangents, eager steps."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((12, 40, 3)).astype(np.float32)           # (T, N, features), time-major
    y = X.sum(axis=(0, 2))[:, None] * 0.1
    model = _LastStep(seed)
    # fit batches the first axis, so the data goes in batch-first and the model sees (T, B, in)
    wrapped = _TimeMajor(model)
    hist = rg.fit(wrapped, "mse", rg.optim.Adam(model.parameters(), lr=0.01), (X.transpose(1, 0, 2), y),
                  epochs=3, batch_size=20, quiet=True, seed=seed)
    return [p.data.copy() for p in model.parameters()] + [np.array(hist["loss"])]


class _TimeMajor(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(rg.transpose(x, (1, 0, 2)))


def _conv_job(seed):
    """The fused convolution (its products shared with the helper thread), pooled arrays, tiled max-pool."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((32, 2, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].mean(axis=(1, 2)) > 0).astype(np.int64)
    gen = np.random.default_rng(seed)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1, generator=gen), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(6 * 4 * 4, 2, generator=gen))
    hist = rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), (X, y),
                  epochs=3, batch_size=8, quiet=True, seed=seed)
    return [p.data.copy() for p in model.parameters()] + [np.array(hist["loss"])]


JOBS = [(_mlp_job, 0), (_lstm_job, 1), (_conv_job, 2), (_mlp_job, 3), (_lstm_job, 4), (_conv_job, 5)]


def _run_job(k):
    job, seed = JOBS[k]
    return job(seed)


@pytest.fixture
def helpers_always_share(monkeypatch):
    """Make the convolution hand half of every product to its helper thread, as large ones do."""
    from retrograd.accel import conv
    monkeypatch.setattr(conv, "_side_by_side", lambda macs: True)


def _assert_same(got, expected, what):
    for k, (a, b) in enumerate(zip(got, expected)):
        assert len(a) == len(b), what
        for x, y in zip(a, b):
            assert np.array_equal(x, y), f"{what}: job {k} ({JOBS[k][0].__name__}) differs"


def _blas_setting():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_threads_training_at_once_give_the_sequential_results(helpers_always_share):
    before = _blas_setting()
    expected = [_run_job(k) for k in range(len(JOBS))]
    for attempt in range(2):
        results, errors = [None] * len(JOBS), []
        start = threading.Barrier(len(JOBS))

        def work(k):
            try:
                start.wait()
                results[k] = _run_job(k)
            except BaseException as exc:          # noqa: BLE001 - reported below
                errors.append((k, exc))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(len(JOBS))]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)                          # many more turns than the default 5 ms gives
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            sys.setswitchinterval(interval)
        assert not errors, errors
        _assert_same(results, expected, f"threaded run {attempt}")
    assert rg.is_grad_enabled()
    assert _blas_setting() == before            # each fit limits BLAS; the last one out restores it


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_pool_gives_the_sequential_results(helpers_always_share):
    expected = [_run_job(k) for k in range(len(JOBS))]       # the parent's worker threads are running now
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_run_job, range(len(JOBS)))
    _assert_same(results, expected, "fork pool")


# ---------------------------------------------------------------------------- grad mode per thread


def _in_step(barriers, k):
    """Wait at step k of a scripted interleaving (a barrier shared by the threads)."""
    barriers[k].wait(timeout=10)


@pytest.mark.parametrize("order", ["AB-AB", "AB-BA", "A-B apart"])
def test_no_grad_in_two_threads_leaves_each_thread_its_own_mode(order):
    """Two threads enter and leave no_grad interleaved (the issue's case: the second to leave
    restored the first's saved mode and switched recording off for the whole process)."""
    steps = [threading.Barrier(2) for _ in range(4)]
    seen, errors = {}, []
    script = {"AB-AB": ("A", "B", "A", "B"), "AB-BA": ("A", "B", "B", "A"), "A-B apart": ("A", "A", "B", "B")}[order]

    def run(name):
        try:
            x = rg.tensor(np.ones(3), requires_grad=True)
            ctx = rg.no_grad()
            events = [k for k, who in enumerate(script) if who == name]   # my enter, then my exit
            for k in range(4):
                if k == events[0]:
                    ctx.__enter__()
                if k == events[1]:
                    ctx.__exit__(None, None, None)
                _in_step(steps, k)
                inside = events[0] <= k < events[1]
                seen[(name, k)] = (rg.is_grad_enabled(), (x * 2.0).requires_grad)
                assert seen[(name, k)] == (not inside, not inside), (name, k)
        except BaseException as exc:             # noqa: BLE001 - reported below
            errors.append(exc)
            for b in steps:
                b.abort()

    threads = [threading.Thread(target=run, args=(n,)) for n in "AB"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(seen) == 8
    assert rg.is_grad_enabled()


def test_one_no_grad_object_entered_by_many_threads_in_random_order():
    """Random nesting of no_grad / enable_grad in eight threads at once, some sharing one object:
    each thread's mode always follows its own stack."""
    shared_off = rg.no_grad()
    errors = []

    def run(seed):
        r = random.Random(seed)
        stack = []
        try:
            for _ in range(300):
                if stack and r.random() < 0.5:
                    ctx, _ = stack.pop()
                    ctx.__exit__(None, None, None)
                else:
                    flag = r.random() < 0.5
                    ctx = rg.enable_grad() if flag else (shared_off if r.random() < 0.5 else rg.no_grad())
                    ctx.__enter__()
                    stack.append((ctx, flag))
                expected = stack[-1][1] if stack else True
                if rg.is_grad_enabled() != expected:
                    errors.append((seed, len(stack)))
                    return
                if r.random() < 0.3:
                    threading.Event().wait(0.0001)       # let the others run in between
            while stack:
                stack.pop()[0].__exit__(None, None, None)
            if not rg.is_grad_enabled():
                errors.append((seed, "left off"))
        except BaseException as exc:             # noqa: BLE001 - reported below
            errors.append((seed, exc))

    with rg.no_grad():                           # the main thread's mode is not the new threads'
        threads = [threading.Thread(target=run, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not rg.is_grad_enabled()
    assert not errors, errors
    assert rg.is_grad_enabled()


def test_a_trace_records_only_its_own_threads_ops():
    from retrograd.accel.trace import Recorder
    noted, other_done = [], threading.Event()
    x = rg.tensor(np.ones(4), requires_grad=True)

    def other():
        for _ in range(200):
            rg.exp(x)
        other_done.set()

    with Recorder() as rec:
        t = threading.Thread(target=other)
        t.start()
        for _ in range(50):
            rg.sin(x)
        t.join()
        noted = [op.name for op, *_ in rec.nodes]
    assert other_done.is_set()
    assert noted == ["sin"] * 50


def test_the_acceleration_switch_is_per_thread():
    seen = {}

    def look(name):
        seen[name] = rg.accel.is_enabled()

    with rg.accel.enabled(False):
        t = threading.Thread(target=look, args=("other",))
        t.start()
        t.join()
        look("this")
    assert seen == {"other": os.environ.get("RETROGRAD_ACCEL", "1") != "0", "this": False}


def test_threads_hammering_the_numpy_kernels_get_the_single_thread_bits(monkeypatch):
    """The NumPy LSTM loops, the fused convolution and Adam's work-array passes, with their pooled
    arrays, from four threads at once: every call gives the bits of a call alone."""
    from retrograd.accel import adam, lstm_native
    monkeypatch.setattr(lstm_native, "_LIB", None)           # the NumPy loops and their scratch arrays
    monkeypatch.setattr(adam, "_LIB", None)                  # Adam's NumPy passes and theirs
    rng = np.random.default_rng(7)
    x_seq = rng.standard_normal((9, 5, 3))
    x_img = rng.standard_normal((4, 2, 6, 6))

    def once():
        gen = np.random.default_rng(1)
        lstm, conv = nn.LSTM(3, 6, dtype=np.float64, generator=gen), nn.Conv2d(2, 3, 3, dtype=np.float64, generator=gen)
        params = list(lstm.parameters()) + list(conv.parameters())
        opt = rg.optim.Adam(params, lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            out, (h, c) = lstm(rg.tensor(x_seq))
            loss = (out * out).sum() + c.sum() + (conv(rg.tensor(x_img)) ** 2).sum()
            loss.backward()
            opt.step()
        return [p.data.copy() for p in params]

    expected = once()
    failures = []

    def hammer():
        for _ in range(6):
            if not all(np.array_equal(a, b) for a, b in zip(once(), expected)):
                failures.append(1)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)                              # threads take turns between almost every NumPy call
    try:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures
