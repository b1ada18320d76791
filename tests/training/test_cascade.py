"""Cascade-correlation: its slopes against autograd, the paper's two-spirals and parity results, events, bad input."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.nn.cascade import UNIT_KINDS, CascadeNetwork
from retrograd.training import Callback, CascadeCorrelation
from retrograd.training.cascade import candidate_slopes


def _all_right(model, X, T, threshold=0.4):
    """Checked on the returned module itself, not on the trainer's own bookkeeping."""
    out = model(rg.tensor(X)).data
    return int(np.sum(np.all(np.abs(out - T) <= threshold, axis=1)))


def test_candidate_slopes_are_the_gradient_of_the_covariance_score():
    """S = Σ_o |Σ_p (V_p − V̄)(E_po − Ē_o)| / Σ E², differentiated by the engine, for a mixed pool."""
    rng = np.random.default_rng(0)
    n, fan_in, n_out = 11, 4, 3
    H = np.concatenate([np.ones((n, 1)), rng.uniform(-1, 1, (n, fan_in - 1))], axis=1)
    E = rng.normal(size=(n, n_out))
    sse = float(np.sum(E * E))
    kinds = ["sigmoid_symmetric", "gaussian", "tanh", "sigmoid_symmetric", "gaussian"]
    groups = [(UNIT_KINDS[k], np.array([i for i, ki in enumerate(kinds) if ki == k])) for k in dict.fromkeys(kinds)]
    W = rng.uniform(-1, 1, (len(kinds), fan_in))
    values, score, slope = candidate_slopes(H, W, groups, E - E.mean(axis=0), sse)
    for c, kind in enumerate(kinds):
        w = rg.tensor(W[c], requires_grad=True)
        v = UNIT_KINDS[kind].tensor_fn(rg.tensor(H) @ w)
        v_centred = v - rg.mean(v)
        S = rg.sum(rg.abs(rg.sum(rg.reshape(v_centred, (n, 1)) * (E - E.mean(axis=0)), axis=0))) * (1.0 / sse)
        S.backward()
        np.testing.assert_allclose(values[:, c], v.data, rtol=1e-14)
        np.testing.assert_allclose(score[c], S.item(), rtol=1e-12)
        np.testing.assert_allclose(slope[c], -w.grad.data, rtol=1e-10, atol=1e-14)


def test_output_error_terms_are_the_gradient_through_the_prime_offset_sigmoid():
    """The output phase's slopes (y − t)(f' + 0.1) h equal autograd through rg.nn.Sigmoid(prime_offset=0.1) − ½."""
    rng = np.random.default_rng(1)
    H = np.concatenate([np.ones((9, 1)), rng.uniform(-2, 2, (9, 3))], axis=1)
    T = rng.choice([-0.5, 0.5], size=(9, 2))
    W = rng.uniform(-1, 1, (2, 4))
    cc = CascadeCorrelation()
    cc._out_kind = UNIT_KINDS["sigmoid_symmetric"]
    _, err = cc._errors(H, T, W)
    w = rg.tensor(W, requires_grad=True)
    y = rg.nn.Sigmoid(prime_offset=0.1)(rg.tensor(H) @ rg.transpose(w)) - 0.5
    rg.nn.functional.half_sse(y, T).backward()
    np.testing.assert_allclose(err.T @ H, w.grad.data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_spirals_solved_with_a_paper_sized_network(seed):
    """Fahlman & Lebiere: all 194 points right with 12-19 hidden units (mean 15.2) over 100 trials."""
    X, y = rg.data.two_spirals()
    T = y - 0.5
    cc = CascadeCorrelation(max_hidden=30, seed=seed)
    model = cc.fit(X, T)
    assert cc.solved_ and cc.stop_reason_ == "solved"
    assert _all_right(model, X, T) == 194
    assert 12 <= model.n_hidden <= 19
    assert 1000 <= cc.epochs_ <= 3000                      # the paper: 1700 epochs on average
    assert len(cc.units_) == model.n_hidden and cc.history_.epochs == cc.epochs_


@pytest.mark.parametrize("n_bits", [2, 3, 4, 5, 6])
def test_parity_solved_with_few_gaussian_units(n_bits):
    X, y = rg.data.parity(n_bits)
    T = y - 0.5
    cc = CascadeCorrelation(max_hidden=12, candidate_activations="gaussian", seed=0)
    model = cc.fit(X, T)
    assert cc.solved_ and _all_right(model, X, T) == 2 ** n_bits
    assert model.n_hidden <= max(1, n_bits - 1)


def test_a_mixed_pool_installs_units_of_both_kinds():
    X, y = rg.data.two_spirals()
    cc = CascadeCorrelation(max_hidden=30, candidate_activations=("sigmoid_symmetric", "gaussian"), seed=0)
    model = cc.fit(X, y - 0.5)
    assert cc.solved_ and set(model.hidden) == {"sigmoid_symmetric", "gaussian"}


def test_regression_with_linear_outputs_reaches_the_error_index():
    X = np.linspace(-3, 3, 60).reshape(-1, 1)
    T = np.sin(X) + 0.5 * X
    cc = CascadeCorrelation(output_activation="identity", error_index=0.02, max_hidden=15, seed=0)
    model = cc.fit(X, T)
    assert cc.criterion == "index" and cc.solved_
    rms = np.sqrt(np.mean((model(rg.tensor(X)).data - T) ** 2))
    assert rms <= 0.02 * T.std() and model.n_hidden >= 1


def test_fit_continues_growing_a_given_network():
    X, y = rg.data.two_spirals()
    first = CascadeCorrelation(max_hidden=4, seed=0)
    model = first.fit(X, y - 0.5)
    assert not first.solved_ and model.n_hidden == 4 and first.stop_reason_ == "max_hidden=4 units"
    frozen = [u.weight.data.copy() for u in model.units]
    second = CascadeCorrelation(max_hidden=30, seed=1)
    grown = second.fit(X, y - 0.5, model=model)
    assert grown is model and second.solved_ and model.n_hidden > 4
    for unit, w in zip(model.units, frozen):
        np.testing.assert_array_equal(unit.weight.data, w)


def test_events_history_and_stopping_from_a_callback():
    seen = []

    class StopAtThirdUnit(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, logs["phase"], logs["n_hidden"]))
            if logs["n_hidden"] == 3:
                self.trainer.stop_training = True

    X, y = rg.data.two_spirals()
    cc = CascadeCorrelation(max_hidden=30, seed=0, callbacks=[StopAtThirdUnit()])
    model = cc.fit(X, y - 0.5)
    assert model.n_hidden == 3 and cc.stop_reason_ == "stopped by a callback"
    assert [e for e, _, _ in seen] == list(range(cc.epochs_))
    assert {p for _, p, _ in seen} == {"output", "candidates"}
    h = cc.history_
    assert len(h["loss"]) == len(h["score"]) == cc.epochs_ and h.stop_reason == cc.stop_reason_
    assert [s is None for s in h["score"]] == [p == "output" for _, p, _ in seen]


def test_quickprop_memory_of_the_output_weights_survives_a_new_unit():
    from retrograd.training.cascade import OUTPUT_PHASE, _QuickpropArray
    q = _QuickpropArray(np.ones((2, 3)), OUTPUT_PHASE, lr=0.1)
    q.step(np.full((2, 3), 0.5))
    wider = q.widened(np.array([4.0, 5.0]), OUTPUT_PHASE, lr=0.1)
    state = wider.opt.state_dict()["state"][0]
    np.testing.assert_array_equal(state["prev_step"][:, :3], q.opt.state_dict()["state"][0]["prev_step"])
    np.testing.assert_array_equal(state["prev_step"][:, 3], [0.0, 0.0])
    np.testing.assert_array_equal(wider.weights[:, 3], [4.0, 5.0])


@pytest.mark.parametrize("kwargs,match", [
    ({"max_hidden": -1}, "max_hidden"),
    ({"n_candidates": 0}, "n_candidates"),
    ({"candidate_activations": ["relu"]}, "unknown hidden unit activation"),
    ({"criterion": "loss"}, "criterion"),
    ({"output_phase": {"epsilon": 1.0, "speed": 2}}, r"unknown output_phase setting\(s\) \['speed'\]"),
    ({"candidate_phase": {"max_epochs": 0}}, "max_epochs >= 1"),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CascadeCorrelation(**kwargs)


def test_bad_data_is_named():
    cc = CascadeCorrelation()
    with pytest.raises(ValueError, match="2-D array"):
        cc.fit(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match=r"targets must have shape \(4,\) or \(4, k\)"):
        cc.fit(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        cc.fit(np.full((4, 2), np.nan), np.zeros(4))
    with pytest.raises(ValueError, match="model has 3 inputs"):
        cc.fit(np.zeros((4, 2)), np.zeros(4), model=CascadeNetwork(3, 1))


def test_the_epoch_budget_is_kept_exactly():
    X, y = rg.data.two_spirals()
    cc = CascadeCorrelation(max_hidden=30, max_epochs=300, seed=0)
    model = cc.fit(X, y - 0.5)
    assert cc.epochs_ == 300 and cc.history_.epochs == 300
    assert cc.stop_reason_ == "max_epochs=300" and not cc.solved_
    assert model.n_hidden == len(cc.units_) >= 1
    out = model(rg.tensor(X)).data                       # the model holds the trainer's final output weights
    assert np.isclose(np.mean((out - (y - 0.5)) ** 2), cc.history_["loss"][-1], rtol=0.2)
