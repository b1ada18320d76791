"""Every stopping rule fires at the first epoch where its condition holds, and not before."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.training import (AllCorrect, BitFail, Callback, EarlyStopping, ErrorGoal,
                                MaxEpochs, MinGradNorm, TimeLimit, get_stopping_rules)

from .conftest import blobs, make_mlp, weights

EPOCHS = 25


class Recorder(Callback):
    """Per epoch: weights, gradient norm, training outputs (as the rules see them)."""

    def __init__(self):
        self.weights, self.grad_norms, self.outputs = [], [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(weights(self.trainer.model))
        self.grad_norms.append(self.trainer.grad_norm())
        self.outputs.append(self.trainer.train_outputs())


def run(stop=None, epochs=EPOCHS, mode="batch", validation=False, lr=0.5, callbacks=()):
    X, y = blobs(n=60, seed=1)
    model = make_mlp([4, 8, 3])
    rec = Recorder()
    val = blobs(n=30, seed=2) if validation else None
    h = rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=lr, momentum=0.5),
               (X, y), epochs=epochs, mode=mode, batch_size=16, validation_data=val,
               stop=stop, callbacks=[rec, *callbacks], quiet=True)
    return h, rec, model, y


def first(values, cond):
    return next(i for i, v in enumerate(values) if cond(v))


def test_max_epochs():
    h, _, _, _ = run(stop=MaxEpochs(4))
    assert h.epochs == 4 and h.stop_reason.startswith("max epochs")


def test_error_goal_fires_at_first_epoch_below_goal():
    ref, _, _, _ = run()
    goal = ref["loss"][9]
    expected = first(ref["loss"], lambda v: v <= goal)
    h, _, _, _ = run(stop={"goal": goal})
    assert h.epochs == expected + 1
    assert h.stop_reason.startswith("error goal")
    assert all(v > goal for v in h["loss"][:-1])


def test_min_grad_norm():
    _, rec, _, _ = run()
    limit = rec.grad_norms[12] * 1.0000001
    expected = first(rec.grad_norms, lambda v: v < limit)
    h, _, _, _ = run(stop=MinGradNorm(limit))
    assert h.epochs == expected + 1 and h.stop_reason.startswith("minimum gradient")
    assert h["grad_norm"][-1] < limit <= min(h["grad_norm"][:-1])


def test_all_correct():
    _, rec, _, y = run(lr=0.05, mode="minibatch")
    correct = [np.all(o.argmax(1) == y) for o in rec.outputs]
    expected = first(correct, bool)
    assert expected > 0, "the test problem should need more than one epoch"
    h, _, _, _ = run(stop=AllCorrect(), lr=0.05, mode="minibatch")
    assert h.epochs == expected + 1 and "classified correctly" in h.stop_reason


def run_sigmoid_mse(stop=None):
    """FANN's setting: sigmoid outputs trained on one-hot targets with squared error."""
    X, y = blobs(n=60, seed=1)
    T = np.eye(3, dtype=np.float32)[y]
    model = rg.nn.Sequential(make_mlp([4, 8, 3]), rg.nn.Sigmoid())
    rec = Recorder()
    h = rg.fit(model, "mse", rg.optim.SGD(model.parameters(), lr=2.0, momentum=0.5), (X, T),
               epochs=EPOCHS, mode="batch", stop=stop, callbacks=[rec], quiet=True)
    return h, rec, T


def test_bit_fail():
    _, rec, T = run_sigmoid_mse()
    fails = [int(np.sum(np.abs(o - T) > 0.4)) for o in rec.outputs]
    target = fails[len(fails) // 2]
    expected = first(fails, lambda f: f <= target)
    assert 0 < expected and fails[0] > target
    h, _, _ = run_sigmoid_mse(stop={"bit_fail": (0.4, target)})
    assert h.epochs == expected + 1 and h.stop_reason.startswith("bit fail")
    assert h["bit_fail"][-1] == fails[expected]
    assert all(f > target for f in h["bit_fail"][:-1])


def test_time_limit_uses_elapsed_time(monkeypatch):
    import retrograd.training.stopping as stopping

    class FakeClock:
        now = 0.0

        def perf_counter(self):
            return self.now

    clock = FakeClock()
    monkeypatch.setattr(stopping, "time", clock)

    class Tick(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            clock.now += 1.0

    h, _, _, _ = run(stop=TimeLimit(3.5), callbacks=[Tick()])
    assert h.epochs == 4 and h.stop_reason.startswith("time limit")


def test_early_stopping_restores_best_weights():
    ref, rec, _, _ = run(validation=True, lr=2.0, mode="minibatch", epochs=40)
    val = ref["val_loss"]
    patience = 3
    best, best_i, wait, expected = np.inf, None, 0, None
    for i, v in enumerate(val):
        if v < best:
            best, best_i, wait = v, i, 0
        else:
            wait += 1
            if wait >= patience:
                expected = i
                break
    assert expected is not None, "the reference run should overfit/oscillate within 40 epochs"
    h, rec2, model, _ = run(stop=EarlyStopping(patience=patience), validation=True, lr=2.0,
                            mode="minibatch", epochs=40)
    assert h.epochs == expected + 1 and h.stop_reason.startswith("early stopping")
    for a, b in zip(weights(model), rec.weights[best_i]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_without_validation_data_says_what_to_do():
    with pytest.raises(ValueError, match="validation_split"):
        run(stop="early_stopping")


def test_rules_combine_first_one_wins():
    ref, _, _, _ = run()
    h, _, _, _ = run(stop=[ErrorGoal(ref["loss"][5]), MaxEpochs(3)])
    assert h.epochs == 3 and h.stop_reason.startswith("max epochs")
    h, _, _, _ = run(stop={"goal": ref["loss"][2], "epochs": 10})
    assert h.epochs == 3 and h.stop_reason.startswith("error goal")


def test_unknown_rule_lists_known_ones():
    with pytest.raises(ValueError, match="known"):
        get_stopping_rules({"gaol": 1})


class Diverge(Callback):
    """Records the weights at each epoch end, and blows the learning rate up after epoch 3."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(weights(self.trainer.model))
        if epoch == 2:
            for g in self.trainer.optimizer.param_groups:
                g["lr"] = 1e30


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("mode", ["minibatch", "batch"])
def test_nan_guard_stops_and_keeps_last_good_weights(mode):
    X, y = blobs(n=40)
    model = make_mlp([4, 6, 3])
    cb = Diverge()
    h = rg.fit(model, "mse", rg.optim.SGD(model.parameters(), lr=0.01),
               (X, np.eye(3, dtype=np.float32)[y] * 1e3), epochs=20, mode=mode,
               callbacks=[cb], quiet=True)
    assert "non-finite" in h.stop_reason and "Lower the learning rate" in h.stop_reason
    assert h.diverged and h.epochs < 20 and all(np.isfinite(v) for v in h["loss"])
    # batch mode takes an epoch's loss before its update, so the epoch with the blown-up update
    # is still recorded; its weights are finite but their loss is not, and they are not kept
    good = cb.weights[h.epochs - (2 if mode == "batch" else 1)]
    for a, b in zip(weights(model), good):
        np.testing.assert_array_equal(a, b)
    with rg.no_grad():
        out = model(rg.tensor(X))
    assert np.isfinite(((out.data - np.eye(3)[y] * 1e3) ** 2).mean())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_without_nan_guard_a_divergence_raises():
    X, y = blobs(n=40)
    model = make_mlp([4, 6, 3])
    with pytest.raises(FloatingPointError, match="non-finite"):
        rg.fit(model, "mse", rg.optim.SGD(model.parameters(), lr=0.01),
               (X, np.eye(3, dtype=np.float32)[y] * 1e3), epochs=20, callbacks=[Diverge()],
               nan_guard=False, quiet=True)
