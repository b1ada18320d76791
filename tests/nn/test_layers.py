"""Linear, Flatten, Dropout, Embedding, BatchNorm1d/2d and LayerNorm: NumPy references, torch, gradchecks."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn

from .conftest import assert_close

rng = np.random.default_rng(11)


def _copy_to_torch(ours, theirs, torch, transpose=()):
    with torch.no_grad():
        for name, p in ours.state_dict().items():
            v = p.data.T if name in transpose else p.data
            getattr(theirs, name).copy_(torch.tensor(np.ascontiguousarray(v)))


def _compare(ours, theirs, x, torch, dtype, transpose=(), train=True):
    """Forward output, input gradient and every parameter gradient equal to torch's."""
    ours.train(train)
    theirs.train(train)
    xa = rg.tensor(x.astype(dtype), requires_grad=True)
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    y, ty = ours(xa), theirs(tx)
    assert_close(y, ty, dtype, "output")
    w = rng.standard_normal(y.shape).astype(dtype)
    (y * rg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(xa.grad, tx.grad, dtype, "input grad")
    for name, p in ours.named_parameters():
        tg = getattr(theirs, name).grad.numpy()
        assert_close(p.grad, tg.T if name in transpose else tg, dtype, name + " grad")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_against_numpy_and_torch(dtype, torch):
    m = nn.Linear(5, 3, dtype=dtype)
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(m(rg.tensor(x.astype(dtype))).data,
                               x.astype(dtype) @ m.weight.data + m.bias.data, rtol=1e-6)
    t = torch.nn.Linear(5, 3).to(torch.float64 if dtype == np.float64 else torch.float32)
    _copy_to_torch(m, t, torch, transpose=("weight",))
    _compare(m, t, x, torch, dtype, transpose=("weight",))


def test_linear_batched_input_and_no_bias():
    m = nn.Linear(3, 2, bias=False, dtype=np.float64)
    assert m.bias is None and list(m.state_dict()) == ["weight"]
    x = rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(m(rg.tensor(x)).data, x @ m.weight.data)
    with pytest.raises(ValueError, match="Linear\\(3, 2\\): input has shape \\(4, 5\\)"):
        m(rg.tensor(np.zeros((4, 5))))


def test_linear_gradcheck_second_order():
    m = nn.Linear(3, 2, dtype=np.float64)
    rg.gradcheck(lambda x: nn.functional.tanh(m(x)), [rng.standard_normal((2, 3))], order=2)
    rg.gradcheck(lambda w, b: nn.functional.linear(rg.tensor(np.ones((2, 3))), w, b) ** 2,
                 [rng.standard_normal((3, 2)), rng.standard_normal(2)], order=2)


def test_flatten():
    x = rng.standard_normal((2, 3, 4, 5))
    assert nn.Flatten()(rg.tensor(x)).shape == (2, 60)
    np.testing.assert_array_equal(nn.Flatten()(rg.tensor(x)).data, x.reshape(2, 60))
    assert nn.Flatten(0, 1)(rg.tensor(x)).shape == (6, 4, 5)


def test_dropout_statistics_scaling_and_eval():
    d = nn.Dropout(0.25, generator=np.random.default_rng(0))
    x = rg.tensor(np.ones((200, 500)), requires_grad=True)
    y = d(x)
    kept = y.data != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.where(kept, 1 / 0.75, 0))
    d.eval()
    assert d(x) is x
    with pytest.raises(ValueError, match="p must lie in \\[0, 1\\)"):
        nn.Dropout(1.0)


def test_embedding_against_torch(torch):
    m = nn.Embedding(7, 3, dtype=np.float64)
    t = torch.nn.Embedding(7, 3).double()
    _copy_to_torch(m, t, torch)
    idx = np.array([[1, 2, 2], [6, 0, 1]])
    y, ty = m(idx), t(torch.tensor(idx))
    assert_close(y, ty)
    w = rng.standard_normal(y.shape)
    (y * rg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(m.weight.grad, t.weight.grad)           # repeated index 2 accumulates
    with pytest.raises(IndexError, match="indices must lie in \\[0, 7\\)"):
        m(np.array([7]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (8, 3, 5)),
                                        ("BatchNorm2d", (4, 3, 5, 2))])
def test_batchnorm_against_torch_train_then_eval(kind, shape, dtype, torch):
    m = getattr(nn, kind)(3, dtype=dtype)
    t = getattr(torch.nn, kind)(3).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(rng.standard_normal(3)))
        t.bias.copy_(torch.tensor(rng.standard_normal(3)))
    m.weight.data[...] = t.weight.detach().numpy()
    m.bias.data[...] = t.bias.detach().numpy()
    for _ in range(3):                                      # running statistics follow torch's
        x = rng.standard_normal(shape) * 2 + 1
        _compare(m, t, x, torch, dtype, train=True)
        m.zero_grad()
        t.zero_grad()
    for name in ("running_mean", "running_var"):
        assert_close(getattr(m, name), getattr(t, name), dtype, name)
    assert int(m.num_batches_tracked.data) == int(t.num_batches_tracked) == 3
    _compare(m, t, rng.standard_normal(shape), torch, dtype, train=False)


def test_batchnorm_gradcheck_second_order():
    m = nn.BatchNorm1d(2, dtype=np.float64)
    rg.gradcheck(lambda x: m(x) ** 2, [rng.standard_normal((4, 2))], order=2)
    with pytest.raises(ValueError, match="BatchNorm1d\\(2\\): input must be \\(N, C\\)"):
        m(rg.tensor(np.zeros((4, 3))))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layernorm_against_numpy_and_torch(dtype, torch):
    m = nn.LayerNorm((3, 4), dtype=dtype)
    m.weight.data[...] = rng.standard_normal((3, 4))
    m.bias.data[...] = rng.standard_normal((3, 4))
    x = rng.standard_normal((2, 3, 4))
    mu = x.mean((1, 2), keepdims=True)
    ref = (x - mu) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5) * m.weight.data + m.bias.data
    np.testing.assert_allclose(m(rg.tensor(x.astype(dtype))).data, ref, rtol=1e-5, atol=1e-5)
    t = torch.nn.LayerNorm((3, 4)).to(torch.float64 if dtype == np.float64 else torch.float32)
    _copy_to_torch(m, t, torch)
    _compare(m, t, x, torch, dtype)


def test_layernorm_gradcheck_second_order():
    m = nn.LayerNorm(3, dtype=np.float64)
    rg.gradcheck(lambda x: m(x) ** 2, [rng.standard_normal((2, 3))], order=2)
