"""Acceleration on and off (``rg.accel.enabled``) give the same results: every accelerated op, the optimizer table, fit.

Bit for bit wherever the fast version does the reference's arithmetic in the
same order (lazy cotangents, the tiled max-pool, GRU/RNN on one BLAS thread,
Adam's kernels, the packed step, the replayed training step); to a stated
tolerance where it groups the products differently (the fused convolution,
the LSTM's loops): 1e-12 relative in float64, 2e-5 in float32.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.autograd.ops.registry import OPS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "optim"))     # the optimizer tables' helpers
from problems import closure_for, quadratic, rosenbrock, xor  # noqa: E402
from test_convergence import TABLE as CONVERGENCE_TABLE  # noqa: E402

try:
    from test_vs_torch import CASES as TORCH_TABLE  # noqa: E402
except pytest.skip.Exception:                    # without torch that module skips itself; its table goes too
    TORCH_TABLE = []

TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}


def _lstm(rng, dtype):
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True, dtype=dtype, generator=rng)
    x = rng.standard_normal((6, 4, 3)).astype(dtype)
    return lambda t: m(t)[0][-1], [x], list(m.parameters())


def _gru(rng, dtype):
    m = nn.GRU(3, 4, dtype=dtype, generator=rng)
    return lambda t: m(t)[0], [rng.standard_normal((5, 2, 3)).astype(dtype)], list(m.parameters())


def _rnn(rng, dtype):
    m = nn.RNN(3, 4, nonlinearity="relu", dtype=dtype, generator=rng)
    return lambda t: m(t)[0], [rng.standard_normal((5, 2, 3)).astype(dtype)], list(m.parameters())


def _conv(rng, dtype):
    m = nn.Conv2d(4, 6, 3, stride=(1, 2), padding=1, groups=2, dtype=dtype, generator=rng)
    return m, [rng.standard_normal((3, 4, 5, 7)).astype(dtype)], list(m.parameters())


def _max_pool(rng, dtype):
    return nn.MaxPool2d(2), [np.round(rng.standard_normal((2, 3, 4, 6)), 1).astype(dtype)], []


def _indexing(rng, dtype):
    return (lambda t: t.transpose((2, 0, 1))[1:, ::2][0] * 2.0 + t[-1, 1:, 0].sum(),
            [rng.standard_normal((4, 5, 6)).astype(dtype)], [])


# every op with a faster version: name(s), builder -> (fn, inputs, parameters), bit for bit?
ACCELERATED = [
    (("lstm_seq",), _lstm, False),
    (("gru_seq",), _gru, True),
    (("rnn_seq",), _rnn, True),
    (("conv",), _conv, False),
    (("max_pool",), _max_pool, True),
    (("getitem", "transpose"), _indexing, True),
]


def _is_gpu_version(when):
    """The GPU kernels' versions (registered only with CuPy) have their rows in tests/gpu/test_kernels.py."""
    return getattr(when, "__module__", "").startswith("retrograd.accel.cuda_")


def test_every_accelerated_op_has_a_row():
    """A new acceleration needs its row here (and so a check against its reference)."""
    accelerated = {name for name, op in OPS.items()
                   if any(not _is_gpu_version(when) for when, _ in op.versions)}
    assert accelerated == {name for names, _, _ in ACCELERATED for name in names}


def _forward_backward(build, dtype, on):
    rng = np.random.default_rng(0)
    fn, inputs, params = build(rng, dtype)
    with rg.accel.enabled(on):
        xs = [rg.tensor(x, requires_grad=True) for x in inputs]
        out = fn(*xs)
        cot = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        (out * rg.tensor(cot)).sum().backward()
    return [out.numpy()] + [x.grad.numpy() for x in xs] + [p.grad.numpy() for p in params]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("names,build,exact", ACCELERATED, ids=[r[0][0] for r in ACCELERATED])
def test_an_accelerated_op_gives_the_reference_results(names, build, exact, dtype):
    fast, reference = _forward_backward(build, dtype, True), _forward_backward(build, dtype, False)
    tol = TOLERANCE[np.dtype(dtype)]
    for a, b in zip(fast, reference):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


def _optimizer_rows():
    rows = {(name, tuple(sorted(hyper.items()))) for name, hyper, *_ in TORCH_TABLE + CONVERGENCE_TABLE}
    return sorted(rows, key=str)


@pytest.mark.parametrize("problem", [xor, rosenbrock, quadratic], ids=lambda p: p.__name__)
def test_the_optimizer_table_gives_the_same_bits_both_ways(problem):
    """Every optimizer of the torch and convergence tables, 12 steps, acceleration on and off."""
    for name, hyper in _optimizer_rows():
        runs = []
        for on in (True, False):
            with rg.accel.enabled(on), np.errstate(all="ignore"):      # plain SGD leaves Rosenbrock's valley
                params, residuals, _ = problem(3)
                opt = rg.optim.get(name, params, **dict(hyper))
                closure = closure_for(opt, residuals)
                for _ in range(12):
                    opt.step(closure)
            runs.append([p.data.copy() for p in params])
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} {hyper}")


class _LastStep(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.lstm = nn.LSTM(3, 6, generator=rng)
        self.head = nn.Linear(6, 2, generator=rng)

    def forward(self, x):
        out, _ = self.lstm(rg.transpose(x, (1, 0, 2)))
        return self.head(out[-1])


def _mlp_fit(rng):
    X = rng.standard_normal((80, 5)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(5, 12, generator=rng), nn.Tanh(), nn.Linear(12, 2, generator=rng))
    return model, (X, y), rg.optim.Adam(model.parameters(), lr=0.02), True


def _lstm_fit(rng):
    X = rng.standard_normal((48, 7, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    model = _LastStep(rng)
    return model, (X, y), rg.optim.Adam(model.parameters(), lr=0.02), False


def _conv_fit(rng):
    X = rng.standard_normal((40, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, generator=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 2, generator=rng))
    return model, (X, y), rg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), False


@pytest.mark.parametrize("setup", [_mlp_fit, _lstm_fit, _conv_fit], ids=["mlp", "lstm", "conv"])
def test_fit_gives_the_same_model_both_ways(setup):
    """rg.fit with everything on (the MLP's step replayed, its Adam packed and compiled; the LSTM's
    compiled loops; the fused convolution) and with everything off."""
    runs = []
    for on in (True, False):
        with rg.accel.enabled(on):
            model, data, opt, _ = setup(np.random.default_rng(4))
            hist = rg.fit(model, "cross_entropy", opt, data, epochs=3, batch_size=16, quiet=True, seed=2)
        runs.append([p.data.copy() for p in model.parameters()] + [np.array(hist["loss"])])
    exact = setup(np.random.default_rng(4))[3]
    for a, b in zip(*runs):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)    # float32 training, 3 epochs
