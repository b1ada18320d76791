"""A run whose loss becomes non-finite or explodes ends with a message saying so and what to try, the
last good weights, ``history.diverged`` and a History that has every key; healthy runs of every
optimizer never trip the explosion rule."""
import json
import warnings

import numpy as np
import pytest

import retrograd as rg
from retrograd.training import Callback
from retrograd.training.divergence import DEFAULT_FACTOR, constant_prediction_loss, reference_rows

from .conftest import blobs, make_mlp, weights


def digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


class Blow(Callback):
    """Sets every learning rate to ``lr`` at the end of epoch ``at`` (0-based); records weights per epoch."""

    def __init__(self, at, lr):
        self.at, self.lr, self.weights = at, lr, []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(weights(self.trainer.model))
        if epoch == self.at:
            for g in self.trainer.optimizer.param_groups:
                g["lr"] = self.lr


def sgd(model, lr):
    return rg.optim.SGD(model.parameters(), lr=lr)


# (id, how the run goes wrong, epochs recorded before it stops, epochs done at the weights kept,
# stop-reason fragment). An exploded loss takes two epochs above the limit (the first is recorded);
# the weights kept are those of the last epoch's end at which a loss was then measured finite and
# within the limit; batch mode takes each epoch's loss before its update, so the epoch of a
# blown-up update still records a good loss and its weights are not kept.
DIVERGING = [
    ("sgd lr=1e3 on digits", dict(data="digits", lr=1e3), 1, 0, "in epoch 1 and "),
    ("sgd lr=1e3 online on blobs", dict(lr=1e3, mode="online"), 1, 0, "in epoch 1 and "),
    ("inf loss in the first batch", dict(lr=1e30, targets=1e30), 0, 0,
     "non-finite loss or weights at epoch 1, batch 1"),
    ("lr raised to 1e30 after epoch 3", dict(lr=0.01, blow=(2, 1e30), targets=1e3), 3, 3,
     "non-finite loss or weights at epoch 4, batch 2"),
    ("lr raised to 1e6 after epoch 3 (batch mode)", dict(lr=0.1, blow=(2, 1e6), mode="batch", data="digits"), 5, 3,
     "in epoch 5 and "),
    ("lr raised to 1e30 after epoch 3 (batch mode)", dict(lr=0.01, blow=(2, 1e30), mode="batch", targets=1e3), 4, 3,
     "non-finite loss or weights at epoch 5, batch 1"),
]


def run_diverging(data="blobs", lr=0.1, mode="minibatch", blow=None, targets=None):
    """A run with validation, metrics and a schedule, so that every kind of History key is recorded."""
    X, y = digits() if data == "digits" else blobs(n=60)
    classes = int(y.max()) + 1
    model = make_mlp([X.shape[1], 8, classes])
    start = weights(model)
    callbacks = [Blow(*blow)] if blow else []
    loss, Y = ("cross_entropy", y) if targets is None else ("mse", np.eye(classes, dtype=np.float32)[y] * targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = rg.fit(model, loss, sgd(model, lr), (X, Y), epochs=8, mode=mode, batch_size=16,
                   validation_split=0.2, metrics=["accuracy"], callbacks=callbacks, quiet=True)
    return h, model, start, callbacks


@pytest.mark.parametrize("how, recorded, good_epochs, reason", [c[1:] for c in DIVERGING],
                         ids=[c[0] for c in DIVERGING])
def test_a_diverged_run_says_so_keeps_the_last_good_weights_and_a_readable_history(how, recorded, good_epochs,
                                                                                   reason):
    h, model, start, callbacks = run_diverging(**how)
    assert h.diverged and h.epochs == recorded
    assert reason in h.stop_reason
    assert "training diverged" in h.stop_reason and "Lower the learning rate" in h.stop_reason
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"):
        assert len(h[key]) == recorded, key            # every key a normal run records is there
    assert all(np.isfinite(v) for v in h["loss"])
    kept = "those training started from" if good_epochs == 0 else f"end of epoch {good_epochs},"
    assert kept in h.stop_reason
    good = start if good_epochs == 0 else callbacks[0].weights[good_epochs - 1]
    for a, b in zip(weights(model), good):
        np.testing.assert_array_equal(a, b)
    assert json.loads(json.dumps(h.to_json()))["diverged"] is True
    assert rg.History.from_json(h.to_json()).diverged


def test_an_explosion_takes_two_epochs_above_the_limit():
    """One epoch far above the limit is a spike (Quickprop makes them), not a divergence."""
    X, y = blobs(n=60)
    model = make_mlp([4, 8, 3])
    start = weights(model)

    class Spike(Callback):                   # epoch 3 starts from weights 1000x too large, epoch 4 not
        def on_epoch_begin(self, epoch, logs=None):
            if epoch in (2, 3):
                for p, w in zip(self.trainer.params, start if epoch == 3 else self.trainer.params):
                    p.data[...] = w if epoch == 3 else p.data * 1000
    h = rg.fit(model, "cross_entropy", sgd(model, 0.01), (X, y), epochs=6, mode="batch", quiet=True,
               callbacks=[Spike()])
    assert not h.diverged and h.epochs == 6
    assert h["loss"][2] > DEFAULT_FACTOR * h["loss"][0] and h["loss"][3] == h["loss"][0]


def test_the_explosion_is_measured_against_the_loss_at_the_starting_weights():
    X, y = digits()
    model = make_mlp([64, 8, 10])
    h = rg.fit(model, "cross_entropy", sgd(model, 1e3), (X, y), epochs=3, quiet=True)
    rows = reference_rows(len(X))                 # 256 evenly spaced examples
    assert 200 <= len(X[rows]) <= 256
    with rg.no_grad():
        out = make_mlp([64, 8, 10])(rg.tensor(X[rows]))
        start = float(rg.nn.get_loss("cross_entropy")(out, rg.tensor(y[rows])).data)
    assert f"({start:.4g})" in h.stop_reason and f"more than {DEFAULT_FACTOR:g} times" in h.stop_reason


def _loss_of(name):
    fn = rg.nn.get_loss(name)
    return lambda out, t: float(fn(rg.tensor(out), rg.tensor(t)).data)


_y01 = (np.arange(40) % 2).astype(np.float64)[:, None]
_yreg = np.linspace(3.0, 5.0, 40)[:, None]
# (loss, output shape, targets, the loss of the best constant prediction)
CONSTANT = [
    ("cross_entropy", (40, 4), np.arange(40) % 4, np.log(4.0)),                 # zero logits: uniform
    ("mse", (40, 1), _yreg, float(np.var(_yreg))),                               # the mean beats zeros
    ("mse", (40, 1), _yreg - 4.0, float(np.var(_yreg))),
    ("bce", (40, 1), _y01, np.log(2.0)),                                         # zeros clipped: the mean
    ("bce_with_logits", (40, 1), _y01, np.log(2.0)),
    ("half_sse", (40, 2), np.ones((40, 2)), 0.0),
]


@pytest.mark.parametrize("name, shape, y, expected", CONSTANT, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONSTANT)])
def test_the_loss_of_a_constant_prediction(name, shape, y, expected):
    value = constant_prediction_loss(_loss_of(name), np.full(shape, 0.3), y)
    np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-12)


def test_a_second_fit_of_a_trained_model_is_measured_against_a_constant_prediction():
    X, y = blobs(n=60)
    model = make_mlp([4, 16, 3])
    h = rg.fit(model, "cross_entropy", rg.optim.Adam(model.parameters(), lr=0.05), (X, y), epochs=200,
               mode="batch", quiet=True)
    trainer = rg.Trainer(model, "cross_entropy", sgd(model, 0.1), quiet=True)
    trainer.fit((X, y), epochs=1)
    assert h["loss"][-1] < 0.01
    assert trainer.guard.reference_is == "the loss of a constant prediction"
    np.testing.assert_allclose(trainer.guard.reference, np.log(3.0), rtol=1e-6)


def test_divergence_factor_none_lets_a_finite_explosion_run_on():
    X, y = digits()
    model = make_mlp([64, 8, 10])
    h = rg.fit(model, "cross_entropy", sgd(model, 1e3), (X, y), epochs=3, quiet=True, divergence_factor=None)
    assert not h.diverged and h.epochs == 3 and h["loss"][0] > 1e3


def test_a_loss_below_zero_has_no_scale_to_explode_against():
    X, y = blobs(n=40)
    model = make_mlp([4, 6, 3])

    def mean_logit(out, t):              # unbounded: its values say nothing about a scale
        return -rg.mean(out) - 1.0
    trainer = rg.Trainer(model, mean_logit, sgd(model, 0.5), quiet=True)
    h = trainer.fit((X, y), epochs=5)
    assert trainer.guard.reference < 0 and trainer.guard.limit is None
    assert not h.diverged and h.epochs == 5


def test_the_reference_survives_a_resume(tmp_path):
    X, y = blobs(n=40)
    model = make_mlp([4, 6, 3])
    opt = sgd(model, 0.1)
    rg.fit(model, "cross_entropy", opt, (X, y), epochs=2, quiet=True, checkpoint=tmp_path / "c.ckpt")
    _, meta = rg.io.load_tensors(str(tmp_path / "c.ckpt"))
    saved = json.loads(meta["state"])["trainer"]["divergence"]["reference"]
    trainer = rg.Trainer(model, "cross_entropy", opt, quiet=True, checkpoint=tmp_path / "c.ckpt")
    trainer.fit((X, y), epochs=3, resume=tmp_path / "c.ckpt")
    assert trainer.guard.reference == saved            # not the loss at the resumed weights


def test_a_diverged_sklearn_estimator_warns():
    from sklearn.exceptions import ConvergenceWarning
    from retrograd.sklearn import MLPClassifier
    X, y = digits()
    clf = MLPClassifier(optimizer="sgd", optimizer_params={"lr": 1e3}, mode="minibatch", epochs=3)
    with pytest.warns(ConvergenceWarning, match="the loss exploded"):
        clf.fit(X, y)
    assert clf.n_iter_ == 1 and clf.history_.diverged      # the first exploded epoch is recorded


# Every registered optimizer, trained as it is meant to be (full-batch methods in batch mode), on a
# 1-8-1 sin fit: none of them trips the rule (benchmarks/divergence_survey.py runs the wider survey).
HEALTHY = sorted(set(rg.optim.names()) - {"rprop"})


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_runs_of_every_optimizer_do_not_trip_the_rule(name):
    x = np.linspace(-np.pi, np.pi, 40)[:, None]
    rg.manual_seed(0)
    model = rg.nn.Sequential(rg.nn.Linear(1, 8, dtype=np.float64), rg.nn.Tanh(), rg.nn.Linear(8, 1, dtype=np.float64))
    cls = rg.optim.get_class(name)
    opt = rg.optim.get(name, model.parameters(), **({"line_search_fn": "strong_wolfe"} if name == "lbfgs" else {}))
    mode = "batch" if cls.full_batch else "minibatch"
    h = rg.fit(model, "mse", opt, (x, np.sin(x)), epochs=30, mode=mode, batch_size=8, quiet=True)
    assert not h.diverged, h.stop_reason
    assert h.epochs == 30 and h["loss"][-1] < h["loss"][0]
