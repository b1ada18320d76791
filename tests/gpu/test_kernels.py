"""The wing's GPU kernels against the reference ops on the same GPU, at sizes that take many thread blocks."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.autograd.ops.registry import OPS

from tests.gpu.cases import LAYERS, LOSSES

# every op with a GPU version -> the row of tests/gpu/cases.py that runs it both ways (test_layers.py)
ROWS = {"lstm_seq": "lstm", "gru_seq": "gru", "rnn_seq": "rnn_tanh", "conv": "conv2d",
        "max_pool": "maxpool2d_padded", "softmax_cross_entropy": "cross_entropy_index"}


def test_every_gpu_version_has_a_row():
    gpu = {name for name, op in OPS.items()
           if any(getattr(when, "__module__", "").startswith("retrograd.accel.cuda_") for when, _ in op.versions)}
    assert gpu == set(ROWS)
    names = {c.name for c in LAYERS} | {c.name for c in LOSSES}
    assert set(ROWS.values()) <= names


def _both_ways(fn, inputs, dtype):
    results = []
    for on in (True, False):
        with rg.accel.enabled(on):
            xs = [rg.tensor(a.astype(dtype), device="cuda", requires_grad=True) for a in inputs]
            out = fn(*xs)
            cot = rg.tensor(np.random.default_rng(1).standard_normal(out.shape).astype(dtype), device="cuda")
            (out * cot).sum().backward()
            results.append([out.numpy()] + [x.grad.numpy() for x in xs])
    return results


def _large(rng, shapes):
    return [rng.standard_normal(s) * 0.3 for s in shapes]


SEQ = {  # op -> (function of tensors, input shapes): T=20 steps, batch 64, hidden 96
    "lstm": (lambda x, h, c, wi, wh, bi, bh: OPS["lstm_seq"](x, h, c, wi, wh, bi, bh),
             [(20, 64, 40), (64, 96), (64, 96), (384, 40), (384, 96), (384,), (384,)]),
    "lstm_reverse": (lambda x, h, c, wi, wh, bi, bh: OPS["lstm_seq"](x, h, c, wi, wh, bi, bh, reverse=True),
                     [(20, 64, 40), (64, 96), (64, 96), (384, 40), (384, 96), (384,), (384,)]),
    "gru": (lambda x, h, wi, wh, bi, bh: OPS["gru_seq"](x, h, wi, wh, bi, bh),
            [(20, 64, 40), (64, 96), (288, 40), (288, 96), (288,), (288,)]),
    "rnn_relu": (lambda x, h, wi, wh, bi, bh: OPS["rnn_seq"](x, h, wi, wh, bi, bh, nonlinearity="relu"),
                 [(20, 64, 40), (64, 96), (96, 40), (96, 96), (96,), (96,)]),
    "conv_strided": (lambda x, w, b: rg.nn.functional.conv2d(x, w, b, stride=2, padding=1),
                     [(16, 8, 33, 30), (12, 8, 3, 3), (12,)]),
    "conv_dilated": (lambda x, w, b: rg.nn.functional.conv2d(x, w, b, padding=2, dilation=2),
                     [(8, 4, 20, 21), (6, 4, 5, 3), (6,)]),
    "max_pool_overlapping": (lambda x: rg.nn.functional.max_pool2d(x, 3, stride=2, padding=1), [(16, 8, 31, 30)]),
    "softmax_xent": (lambda z: rg.nn.functional.cross_entropy(z, rg.tensor(np.arange(4096) % 1000, device="cuda")),
                     [(4096, 1000)]),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(SEQ))
def test_kernel_matches_the_reference_on_the_gpu(name, dtype):
    fn, shapes = SEQ[name]
    fast, reference = _both_ways(fn, _large(np.random.default_rng(0), shapes), dtype)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for a, b in zip(fast, reference):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max())))
