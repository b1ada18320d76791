"""fit's online / batch / minibatch modes give exactly the updates of a hand-written loop."""
import warnings

import numpy as np
import pytest

import retrograd as rg
from retrograd.training import FullBatchWarning

from .conftest import blobs, make_mlp, weights


def hand_loop(model, X, y, epochs, batch, seed, shuffle=True, lr=0.1, momentum=0.9):
    """The reference: default_rng(seed).permutation(n) per epoch, consecutive slices, SGD step."""
    opt = rg.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = rg.nn.get_loss("cross_entropy")
    rng = np.random.default_rng(seed)
    n = len(X)
    losses = []
    for _ in range(epochs):
        perm = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad()
            loss = loss_fn(model(rg.tensor(X[idx])), rg.tensor(y[idx]))
            loss.backward()
            opt.step()
            total += float(loss.data) * len(idx)
        losses.append(total / n)
    return losses


@pytest.mark.parametrize("mode, batch_size, hand_batch, shuffle", [
    ("online", 99, 1, True),
    ("batch", 7, 50, False),
    ("minibatch", 8, 8, True),       # 50 = 6x8 + 2: the partial batch is kept
    ("minibatch", 64, 50, True),     # batch larger than the data: one batch
])
def test_modes_match_hand_written_loop(mode, batch_size, hand_batch, shuffle):
    X, y = blobs(n=50)
    ref = make_mlp([4, 6, 3])
    ref_losses = hand_loop(ref, X, y, epochs=3, batch=hand_batch, seed=5, shuffle=shuffle)
    model = make_mlp([4, 6, 3])
    opt = rg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    h = rg.fit(model, "cross_entropy", opt, (X, y), epochs=3, mode=mode, batch_size=batch_size,
               seed=5, quiet=True)
    for a, b in zip(weights(model), weights(ref)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(h["loss"], ref_losses, rtol=1e-6)
    assert h.epochs == 3 and h.stop_reason.startswith("max epochs")


def test_explicit_orders_and_generator_match_seed():
    X, y = blobs(n=40)
    orders = [np.random.default_rng(3).permutation(40) for _ in range(1)]
    rng = np.random.default_rng(3)
    orders = [rng.permutation(40) for _ in range(4)]
    results = []
    for shuffle, seed in ((True, 3), (orders, 0), (np.random.default_rng(3), 0), (3, 99)):
        model = make_mlp([4, 5, 3])
        opt = rg.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
        rg.fit(model, "cross_entropy", opt, (X, y), epochs=4, batch_size=16, seed=seed,
               shuffle=shuffle, quiet=True)
        results.append(weights(model))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    model = make_mlp([4, 5, 3])
    with pytest.raises(ValueError, match="epoch 3 needs one more"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), (X, y),
               epochs=3, shuffle=orders[:2], quiet=True)


def test_shuffle_false_is_data_order():
    X, y = blobs(n=30)
    a, b = make_mlp([4, 5, 3]), make_mlp([4, 5, 3])
    hand_loop(a, X, y, epochs=2, batch=10, seed=0, shuffle=False, lr=0.05, momentum=0.0)
    rg.fit(b, "cross_entropy", rg.optim.SGD(b.parameters(), lr=0.05), (X, y), epochs=2,
           batch_size=10, shuffle=False, quiet=True)
    for p, q in zip(weights(a), weights(b)):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("name", ["lbfgs", "rprop", "quickprop"])
def test_full_batch_method_warns_on_minibatches(name):
    X, y = blobs(n=40)
    model = make_mlp([4, 5, 3])
    opt = rg.optim.get(name, model.parameters())
    with pytest.warns(FullBatchWarning, match="full-batch method"):
        rg.fit(model, "cross_entropy", opt, (X, y), epochs=1, batch_size=8, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FullBatchWarning)
        rg.fit(model, "cross_entropy", opt, (X, y), epochs=1, mode="batch", quiet=True)


def test_sgd_on_minibatches_does_not_warn():
    X, y = blobs(n=40)
    model = make_mlp([4, 5, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FullBatchWarning)
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), (X, y),
               epochs=1, batch_size=8, quiet=True)


def test_lbfgs_batch_mode_gets_a_closure_and_converges():
    X, y = blobs(n=60)
    model = make_mlp([4, 8, 3])
    opt = rg.optim.get("lbfgs", model.parameters())
    h = rg.fit(model, "cross_entropy", opt, (X, y), epochs=5, mode="batch", quiet=True)
    assert h["loss"][-1] < 0.5 * h["loss"][0]


def test_validation_split_takes_the_last_fraction_and_metrics_are_recorded():
    X, y = blobs(n=50)
    model = make_mlp([4, 6, 3])
    h = rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), (X, y),
               epochs=2, validation_split=0.2, metrics=["accuracy"], quiet=True)
    with rg.no_grad():
        out = model(rg.tensor(X[40:])).data
        val_loss = float(rg.nn.functional.cross_entropy(rg.tensor(out), rg.tensor(y[40:])).data)
    assert h["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert h["val_accuracy"][-1] == pytest.approx(np.mean(out.argmax(1) == y[40:]))
    assert set(h) >= {"loss", "val_loss", "accuracy", "val_accuracy", "lr", "time"}
    assert h["lr"] == [0.1, 0.1]
    with pytest.raises(ValueError, match="not both"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), (X, y),
               validation_data=(X, y), validation_split=0.2, quiet=True)


def test_mismatched_lengths_name_the_shapes():
    model = make_mlp([4, 5, 3])
    with pytest.raises(ValueError, match=r"X shape \(10, 4\).*y shape \(9,\)"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1),
               (np.zeros((10, 4), np.float32), np.zeros(9, np.int64)), quiet=True)


def test_residual_optimizer_gets_residual_closure():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, 1))
    y = np.sin(2 * X)
    model = make_mlp([1, 6, 1], dtype=np.float64)
    opt = rg.optim.get("lm", model.parameters())
    h = rg.fit(model, "half_sse", opt, (X, y), epochs=15, mode="batch", quiet=True)
    with rg.no_grad():
        final = 0.5 * float(np.sum((model(rg.tensor(X)).data - y) ** 2))
    assert h["loss"][-1] < 0.05 * h["loss"][0]
    assert final <= h["loss"][-1] + 1e-12
