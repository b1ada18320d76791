"""fit's recorded-and-replayed training step: same results as eager, and eager wherever replay is unsafe."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.accel.trace import NotTraceable, trace
from retrograd.training import Trainer

from tests.training.conftest import blobs, make_mlp, weights


def train(model, loss, X, y, compile, epochs=4, batch_size=8, lr=0.1):
    opt = rg.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    trainer = Trainer(model, loss, opt, batch_size=batch_size, seed=3, quiet=True, compile=compile)
    history = trainer.fit((X, y), epochs=epochs)
    return trainer, history


def assert_same_training(make_model, loss, X, y, compile="auto", expect_replays=True, **kw):
    eager_model, compiled_model = make_model(), make_model()
    _, h_eager = train(eager_model, loss, X, y, compile=False, **kw)
    trainer, h_comp = train(compiled_model, loss, X, y, compile=compile, **kw)
    for a, b in zip(weights(compiled_model), weights(eager_model)):
        np.testing.assert_array_equal(a, b)                  # bit for bit, not approximately
    assert h_comp["loss"] == h_eager["loss"]
    replays = trainer.compiled.replays if trainer.compiled is not None else 0
    assert (replays > 0) == expect_replays
    return trainer


def test_mlp_classifier_replays_and_matches_eager_bit_for_bit():
    X, y = blobs(n=50)                                       # 6 batches of 8 and one of 2
    trainer = assert_same_training(lambda: make_mlp([4, 6, 3]), "cross_entropy", X, y)
    # each of the two batch shapes: traced once, checked once, then replayed
    assert trainer.compiled.replays == 4 * 7 - 4


def test_regression_with_relu_and_mse_matches_eager():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = np.sin(X).sum(axis=1, keepdims=True)
    assert_same_training(lambda: make_mlp([3, 8, 8, 1], dtype=np.float64, act="relu"), "mse", X, y)


def test_convolutional_model_matches_eager():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(24, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 24)

    def model():
        rg.manual_seed(0)
        return rg.nn.Sequential(rg.nn.Conv2d(1, 4, 3, padding=1), rg.nn.ReLU(), rg.nn.MaxPool2d(2),
                                rg.nn.Flatten(), rg.nn.Linear(36, 3))
    assert_same_training(model, "cross_entropy", X, y, epochs=3)


def test_dropout_in_training_is_never_replayed():
    X, y = blobs(n=40)

    def model():
        rg.manual_seed(0)
        return rg.nn.Sequential(rg.nn.Linear(4, 8), rg.nn.Tanh(), rg.nn.Dropout(0.3), rg.nn.Linear(8, 3))
    # auto: Dropout is not traceable in training, so the step is not even recorded
    eager = model()
    rg.manual_seed(5)
    train(eager, "cross_entropy", X, y, compile=False)
    auto_model = model()
    rg.manual_seed(5)
    trainer, _ = train(auto_model, "cross_entropy", X, y, compile="auto")
    assert trainer.compiled is None
    # forced: the check against eager sees different masks and keeps the step eager
    forced = model()
    rg.manual_seed(5)
    trainer, _ = train(forced, "cross_entropy", X, y, compile=True)
    assert trainer.compiled.replays == 0
    for a, b, c in zip(weights(eager), weights(auto_model), weights(forced)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_batch_norm_running_statistics_keep_the_step_eager():
    X, y = blobs(n=40)

    def model():
        rg.manual_seed(0)
        return rg.nn.Sequential(rg.nn.Linear(4, 8), rg.nn.BatchNorm1d(8), rg.nn.Tanh(), rg.nn.Linear(8, 3))
    assert_same_training(model, "cross_entropy", X, y, compile=True, expect_replays=False)
    m = model()
    trainer, _ = train(m, "cross_entropy", X, y, compile="auto")
    assert trainer.compiled is None


def test_custom_modules_and_loss_functions_stay_eager_unless_asked():
    class Scale(rg.nn.Module):
        def forward(self, x):
            return x * 2.0
    X, y = blobs(n=24)
    m = rg.nn.Sequential(rg.nn.Linear(4, 3), Scale())
    trainer, _ = train(m, "cross_entropy", X, y, compile="auto")
    assert trainer.compiled is None
    trainer, _ = train(make_mlp([4, 5, 3]), lambda out, t: rg.nn.functional.cross_entropy(out, t), X, y,
                       compile="auto")
    assert trainer.compiled is None
    def scaled():
        rg.manual_seed(0)
        return rg.nn.Sequential(rg.nn.Linear(4, 3), Scale())
    assert_same_training(scaled, "cross_entropy", X, y, compile=True)


def test_targets_reshaped_outside_the_graph_are_not_replayed_stale():
    X, y = blobs(n=32)

    def one_hot_mse(out, t):                 # the one-hot matrix is made from the batch by NumPy
        return rg.nn.functional.mse_loss(rg.nn.functional.softmax(out, axis=1), np.eye(3)[t.data])
    assert_same_training(lambda: make_mlp([4, 5, 3], dtype=np.float64), one_hot_mse, X, y.astype(np.int64),
                         compile=True, expect_replays=False)


def test_compile_option_is_validated():
    with pytest.raises(ValueError, match="compile must be"):
        Trainer(make_mlp([2, 2]), "mse", rg.optim.SGD(make_mlp([2, 2]).parameters()), compile="yes")


def test_program_replays_new_inputs_like_the_eager_step():
    model = make_mlp([4, 7, 3], dtype=np.float64)
    params = list(model.parameters())
    loss_fn = rg.nn.get_loss("cross_entropy")
    X, y = blobs(n=16, dtype=np.float64)
    _, program = trace(lambda a, b: loss_fn(model(a), b), (rg.tensor(X[:8]), rg.tensor(y[:8])), params)
    loss = loss_fn(model(rg.tensor(X[8:])), rg.tensor(y[8:]))
    loss.backward()
    replayed, grads = program.run(X[8:], y[8:])
    assert replayed == loss.data
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(g, p.grad.data)


def test_tracing_something_that_is_not_a_loss_is_refused():
    x = rg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(NotTraceable, match="one-element loss"):
        trace(lambda a: a * 2.0, (rg.tensor(np.ones((2, 3))),), [x])


def test_batch_derived_index_in_a_static_parameter_is_refused():
    X, y = blobs(n=32, dtype=np.float64)

    def picked_logit_loss(out, t):           # the labels reach the graph as a getitem index
        return -rg.mean(out[np.arange(len(t.data)), t.data])
    assert_same_training(lambda: make_mlp([4, 5, 3], dtype=np.float64), picked_logit_loss, X, y,
                         compile=True, expect_replays=False)


def test_trace_refuses_batch_arrays_hidden_in_static_parameters():
    model = make_mlp([4, 3], dtype=np.float64)
    X, y = blobs(n=8, dtype=np.float64)
    with pytest.raises(NotTraceable, match="getitem"):
        trace(lambda a, t: -rg.mean(model(a)[np.arange(8), t.data]), (rg.tensor(X), rg.tensor(y)),
              list(model.parameters()))


def test_embedding_model_with_validation_metrics_and_schedule_matches_eager():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 10, size=(40, 3))
    y = (X.sum(axis=1) % 2).astype(np.int64)

    def model():
        rg.manual_seed(1)
        return rg.nn.Sequential(rg.nn.Embedding(10, 4), rg.nn.Flatten(), rg.nn.Linear(12, 2))
    results = []
    for compile in (False, "auto"):
        m = model()
        opt = rg.optim.Adam(m.parameters(), lr=0.01)
        sched = rg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        h = rg.fit(m, "cross_entropy", opt, (X, y), epochs=5, batch_size=16, seed=2, quiet=True,
                   validation_split=0.25, metrics=["accuracy"], scheduler=sched, compile=compile)
        results.append((weights(m), h["loss"], h["val_loss"], h["val_accuracy"]))
    (w0, *logs0), (w1, *logs1) = results
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    assert logs0 == logs1


def test_detached_values_are_replayed_fresh_and_pass_no_gradient():
    class HalfStopped(rg.nn.Module):
        traceable = True

        def __init__(self):
            super().__init__()
            rg.manual_seed(3)
            self.lin = rg.nn.Linear(4, 3)

        def forward(self, x):
            y = self.lin(x)
            return y + y.detach() * 0.5          # the second term must not be stale, nor differentiated
    X, y = blobs(n=40)
    trainer = assert_same_training(HalfStopped, "cross_entropy", X, y)
    assert trainer.compiled.replays > 0


def test_compiled_step_in_a_hand_written_loop_equals_the_eager_loop():
    X, y = blobs(n=48)
    loss_fn = rg.nn.get_loss("cross_entropy")
    results = []
    for compiled in (False, True):
        model = make_mlp([4, 6, 3])
        opt = rg.optim.Adam(model.parameters(), lr=0.01)
        step = rg.accel.CompiledStep(model, loss_fn)
        for epoch in range(3):
            for s in range(0, 48, 16):
                xb, yb = rg.tensor(X[s:s + 16]), rg.tensor(y[s:s + 16])
                opt.zero_grad()
                if compiled:
                    step(xb, yb)
                else:
                    loss_fn(model(xb), yb).backward()
                opt.step()
        results.append(weights(model))
    assert step.replays == 3 * 3 - 2
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_replay_sums_fanned_out_and_broadcast_gradients_like_the_engine():
    rng = np.random.default_rng(5)
    w = rg.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    scale = rg.tensor(rng.normal(size=(1, 4)), requires_grad=True)   # broadcast over rows: needs sum_to

    def loss_fn(x, t):
        h = rg.tanh(x @ w)
        both = h * scale + h * h                                        # h feeds three products
        return rg.mean((both - t) ** 2)
    X, T = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    _, program = trace(loss_fn, (rg.tensor(X[:5]), rg.tensor(T[:5])), [w, scale])
    loss = loss_fn(rg.tensor(X[5:]), rg.tensor(T[5:]))
    loss.backward()
    replayed, grads = program.run(X[5:], T[5:])
    assert replayed == loss.data
    np.testing.assert_array_equal(grads[0], w.grad.data)
    np.testing.assert_array_equal(grads[1], scale.grad.data)
    assert grads[1].shape == (1, 4)


def test_replay_frees_values_early_and_reports_errors_on_its_own_lines():
    model = make_mlp([4, 6, 3], dtype=np.float64)
    loss_fn = rg.nn.get_loss("cross_entropy")
    X, y = blobs(n=16, dtype=np.float64)
    _, program = trace(lambda a, b: loss_fn(model(a), b), (rg.tensor(X[:8]), rg.tensor(y[:8])),
                       list(model.parameters()))
    assert "del v" in program.source           # intermediate arrays are released after their last use
    with pytest.raises(ValueError) as info:
        program.run(X[:8], -np.ones(8, dtype=y.dtype))     # negative class indices: the loss refuses them
    lines = [str(entry.statement) for entry in info.traceback if "retrograd replay" in str(entry.path)]
    assert lines and "F" in lines[0]           # the traceback shows the generated line that failed


def _fit_twice(model, X, y, between=None, compile="auto"):
    """Two fits of one model (changed in between by ``between``); returns the second trainer and the weights."""
    for round_ in range(2):
        if round_ and between is not None:
            between(model)
        opt = rg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        trainer = Trainer(model, "cross_entropy", opt, batch_size=8, seed=3, quiet=True, compile=compile)
        trainer.fit((X, y), epochs=2)
    return trainer, weights(model)


def test_a_second_fit_replays_the_checked_programs_from_its_first_batch():
    X, y = blobs(n=50)                                       # batches of 8 and a last one of 2
    trainer, w_compiled = _fit_twice(make_mlp([4, 6, 3]), X, y)
    assert trainer.compiled.replays == 2 * 7                 # nothing traced or checked again
    _, w_eager = _fit_twice(make_mlp([4, 6, 3]), X, y, compile=False)
    for a, b in zip(w_compiled, w_eager):
        np.testing.assert_array_equal(a, b)


def test_changed_settings_or_parameters_are_traced_anew():
    X, y = blobs(n=48)

    def steeper(model):
        model[1].kw["negative_slope"] = 0.3                  # a setting the trace baked in

    def new_bias(model):
        model[2].bias = rg.nn.Parameter(np.zeros(3, dtype=np.float32))

    for change in (steeper, new_bias):
        trainer, w_compiled = _fit_twice(make_mlp([4, 6, 3], act="leaky_relu"), X, y, between=change)
        assert trainer.compiled.replays == 2 * 6 - 2         # the first two batches: trace, check
        _, w_eager = _fit_twice(make_mlp([4, 6, 3], act="leaky_relu"), X, y, between=change, compile=False)
        for a, b in zip(w_compiled, w_eager):
            np.testing.assert_array_equal(a, b)


def test_kept_programs_do_not_keep_the_model_alive():
    import gc
    import weakref
    X, y = blobs(n=24)
    model = make_mlp([4, 5, 3])
    _fit_twice(model, X, y)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
