"""rg.per_example_grads: the vectorised sweep against a loop of single-example backward passes and torch.func."""
import warnings

import numpy as np
import pytest

import retrograd as rg
from retrograd.training.per_example import PerExampleFallbackWarning

try:
    import torch
except ImportError:  # the oracle is optional
    torch = None


def _loop(model, loss, X, y):
    return rg.per_example_grads(model, loss, X, y, method="loop")


def _assert_same(a, b, tol=1e-12):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert p.shape == q.shape
        np.testing.assert_allclose(p, q, rtol=tol, atol=tol * (np.abs(q).max() + 1e-300))


class _Recurrent(rg.nn.Module):
    def __init__(self, kind, **kw):
        super().__init__()
        self.rnn = getattr(rg.nn, kind)(3, 4, batch_first=True, dtype=np.float64, **kw)
        width = 8 if kw.get("bidirectional") else 4
        self.head = rg.nn.Linear(width, 2, dtype=np.float64)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.head(h[:, -1])


class _TiedAutoencoder(rg.nn.Module):
    """The decoder uses the encoder's weight transposed: a parameter reached through a parameter-only op."""

    def __init__(self):
        super().__init__()
        self.enc = rg.nn.Linear(5, 3, dtype=np.float64)

    def forward(self, x):
        return rg.tanh(self.enc(x)) @ self.enc.weight.T


def _models():
    f64 = dict(dtype=np.float64)
    bn = rg.nn.Sequential(rg.nn.Linear(5, 6, **f64), rg.nn.BatchNorm1d(6, **f64), rg.nn.Tanh(),
                          rg.nn.Linear(6, 3, **f64))
    bn(rg.tensor(np.random.default_rng(3).standard_normal((20, 5))))      # running statistics
    bn.eval()
    bn2 = rg.nn.Sequential(rg.nn.Conv2d(2, 4, 3, padding=1, **f64), rg.nn.BatchNorm2d(4, **f64),
                           rg.nn.ReLU(), rg.nn.Flatten(), rg.nn.Linear(4 * 5 * 5, 3, **f64))
    bn2(rg.tensor(np.random.default_rng(4).standard_normal((8, 2, 5, 5))))
    bn2.eval()
    return {
        "dense": (rg.nn.Sequential(rg.nn.Linear(5, 7, **f64), rg.nn.Tanh(), rg.nn.Linear(7, 3, **f64)),
                  (5,), "cross_entropy"),
        "conv2d": (rg.nn.Sequential(rg.nn.Conv2d(2, 4, 3, padding=1, **f64), rg.nn.ReLU(),
                                    rg.nn.Conv2d(4, 4, 3, stride=2, dilation=1, groups=2, **f64),
                                    rg.nn.Flatten(), rg.nn.Linear(4 * 2 * 2, 3, **f64)), (2, 6, 6), "cross_entropy"),
        "conv1d": (rg.nn.Sequential(rg.nn.Conv1d(3, 4, 3, dilation=2, **f64), rg.nn.Tanh(), rg.nn.Flatten(),
                                    rg.nn.Linear(4 * 6, 3, **f64)), (3, 10), "cross_entropy"),
        "batchnorm1d_eval": (bn, (5,), "cross_entropy"),
        "batchnorm2d_eval": (bn2, (2, 5, 5), "cross_entropy"),
        "layernorm": (rg.nn.Sequential(rg.nn.Linear(5, 6, **f64), rg.nn.LayerNorm(6, dtype=np.float64),
                                       rg.nn.Linear(6, 3, **f64)), (5,), "cross_entropy"),
        "rnn_2_layers": (_Recurrent("RNN", num_layers=2), (6, 3), "mse"),
        "gru_bidirectional": (_Recurrent("GRU", bidirectional=True), (6, 3), "mse"),
        "lstm_2_layers": (_Recurrent("LSTM", num_layers=2), (6, 3), "mse"),
        "lstm_bidirectional": (_Recurrent("LSTM", bidirectional=True), (6, 3), "mse"),
        "tied_weights": (_TiedAutoencoder(), (5,), "mse"),
    }


MODELS = _models()


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_vectorised_equals_a_loop_of_single_example_backward_passes(kind):
    model, shape, loss = MODELS[kind]
    rng = np.random.default_rng(1)
    n = 7
    X = rng.standard_normal((n,) + shape)
    if loss == "cross_entropy":
        y = rng.integers(0, 3, n)
    else:
        y = rng.standard_normal((n,) + model(rg.tensor(X[:1])).shape[1:])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerExampleFallbackWarning)    # the vectorised path, not the fallback
        fast = rg.per_example_grads(model, loss, X, y, method="vectorized")
    slow = _loop(model, loss, X, y)
    assert [g.shape for g in fast] == [(n,) + p.shape for p in model.parameters()]
    _assert_same(fast, slow)
    assert max(np.abs(g).max() for g in fast) > 1e-3                   # not all zeros


@pytest.mark.parametrize("loss", ["mse", "half_sse", "l1", "huber", "bce_with_logits",
                                  rg.nn.MSELoss(reduction="sum"), "callable"])
def test_every_kind_of_loss_gives_the_single_example_loss_gradient(loss):
    model = rg.nn.Sequential(rg.nn.Linear(4, 5, dtype=np.float64), rg.nn.Tanh(),
                             rg.nn.Linear(5, 2, dtype=np.float64))
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, 4)), rng.uniform(0, 1, (6, 2))
    if loss == "callable":
        loss = lambda out, t: rg.mean((out - t) ** 4)                   # noqa: E731 - no reduction attribute
    fast, losses = rg.per_example_grads(model, loss, X, y, return_losses=True)
    slow, slow_losses = rg.per_example_grads(model, loss, X, y, method="loop", return_losses=True)
    _assert_same(fast, slow)
    np.testing.assert_allclose(losses, slow_losses, rtol=1e-12)


def test_mean_of_per_example_gradients_is_the_batch_gradient():
    model = rg.nn.Sequential(rg.nn.Linear(4, 6, dtype=np.float64), rg.nn.ReLU(), rg.nn.Linear(6, 3, dtype=np.float64))
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    grads = rg.per_example_grads(model, "cross_entropy", X, y)
    loss = rg.nn.functional.cross_entropy(model(rg.tensor(X)), rg.tensor(y))
    loss.backward()
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_allclose(g.mean(axis=0), p.grad.data, rtol=1e-12, atol=1e-14)


def test_examples_that_interact_fall_back_to_the_loop_with_a_warning():
    """Batch norm in training mode mixes the batch: the sweep's check sees it."""
    model = rg.nn.Sequential(rg.nn.Linear(3, 4, dtype=np.float64), rg.nn.BatchNorm1d(4, dtype=np.float64),
                             rg.nn.Tanh(), rg.nn.Linear(4, 2, dtype=np.float64))
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match="interact"):
        rg.per_example_grads(model, "mse", X, y, method="vectorized")
    with pytest.warns(PerExampleFallbackWarning, match="interact"):
        got = rg.per_example_grads(model, "mse", X, y)
    _assert_same(got, _loop(model, "mse", X, y))


def test_an_op_without_a_rule_falls_back_to_the_loop():
    class Looked(rg.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = rg.nn.Embedding(10, 3, dtype=np.float64)
            self.head = rg.nn.Linear(3, 2, dtype=np.float64)

        def forward(self, idx):
            return self.head(self.emb(idx).mean(axis=1))
    model = Looked()
    idx = np.random.default_rng(7).integers(0, 10, (4, 5))
    y = np.random.default_rng(8).standard_normal((4, 2))
    with pytest.warns(PerExampleFallbackWarning):
        got = rg.per_example_grads(model, "mse", idx, y)
    _assert_same(got, _loop(model, "mse", idx, y))


def test_float32_and_reused_buffers():
    model = rg.nn.Sequential(rg.nn.Linear(6, 5), rg.nn.Tanh(), rg.nn.Linear(5, 3))
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)
    out = [np.full((8,) + p.shape, np.nan, dtype=np.float32) for p in model.parameters()]
    got = rg.per_example_grads(model, "cross_entropy", X, y, out=out)
    assert all(g.dtype == np.float32 for g in got)
    assert got[0] is out[0]                                           # written in place
    ref = _loop(model, "cross_entropy", X, y)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=1e-6)


def test_bad_arguments_name_the_problem():
    model = rg.nn.Sequential(rg.nn.Linear(2, 1))
    X = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="3 examples but y has 2"):
        rg.per_example_grads(model, "mse", X, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="method"):
        rg.per_example_grads(model, "mse", X, np.zeros((3, 1)), method="vmap")
    with pytest.raises(ValueError, match="out must"):
        rg.per_example_grads(model, "mse", X, np.zeros((3, 1)), out=[np.zeros(1)])
    with pytest.raises(TypeError, match="loss"):
        rg.per_example_grads(model, 3, X, np.zeros((3, 1)))


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_matches_torch_func_vmap_grad(kind):
    from torch.func import functional_call, grad, vmap
    rng = np.random.default_rng(10)
    if kind == "dense":
        tmodel = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).double()
        model = rg.nn.Sequential(rg.nn.Linear(6, 5, dtype=np.float64), rg.nn.Tanh(),
                                 rg.nn.Linear(5, 3, dtype=np.float64))
        X = rng.standard_normal((9, 6))
    else:
        tmodel = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                     torch.nn.Linear(3 * 4 * 4, 3)).double()
        model = rg.nn.Sequential(rg.nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), rg.nn.Tanh(),
                                 rg.nn.Flatten(), rg.nn.Linear(3 * 4 * 4, 3, dtype=np.float64))
        X = rng.standard_normal((9, 2, 4, 4))
    y = rng.integers(0, 3, 9)
    for (name, tp), p in zip(tmodel.named_parameters(), model.parameters()):
        arr = tp.detach().numpy()
        p.data[...] = arr.T if (tp.ndim == 2) else arr                 # retrograd's Linear weight is (in, out)
    params = {k: v.detach() for k, v in tmodel.named_parameters()}

    def loss_of(params, x, t):
        out = functional_call(tmodel, params, (x.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, t.unsqueeze(0))
    ref = vmap(grad(loss_of), in_dims=(None, 0, 0))(params, torch.tensor(X), torch.tensor(y))
    got = rg.per_example_grads(model, "cross_entropy", X, y)
    for (name, tp), g in zip(tmodel.named_parameters(), got):
        r = ref[name].numpy()
        if r.ndim == 3:                                                 # a Linear weight: (n, out, in)
            r = r.transpose(0, 2, 1)
        np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-13)
