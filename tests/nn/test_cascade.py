"""CascadeNetwork: the cascade forward against a NumPy transcription, growing, gradients, save/load, bad input."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.nn.arch import ArchitectureError, build, describe
from retrograd.nn.cascade import MAX_HIDDEN_UNITS, UNIT_KINDS, CascadeNetwork

KINDS = ["sigmoid_symmetric", "gaussian", "tanh", "sigmoid"]


def _grown(n_in=3, n_out=2, kinds=KINDS, output="sigmoid_symmetric", seed=0):
    rng = np.random.default_rng(seed)
    net = CascadeNetwork(n_in, n_out, output=output, dtype=np.float64)
    net.set_output_weights(rng.uniform(-1, 1, (n_in, n_out)), rng.uniform(-1, 1, n_out))
    for k, kind in enumerate(kinds):
        net.add_unit(kind, rng.uniform(-1, 1, n_in + k), rng.uniform(-1, 1), rng.uniform(-1, 1, n_out))
    return net


def _numpy_cascade(net, X):
    """Fahlman's forward pass, unit by unit: each unit sees the bias, the inputs and every earlier unit."""
    acts = {"sigmoid_symmetric": lambda s: 1 / (1 + np.exp(-s)) - 0.5, "sigmoid": lambda s: 1 / (1 + np.exp(-s)),
            "tanh": np.tanh, "gaussian": lambda s: np.exp(-0.5 * s * s), "identity": lambda s: s}
    values = [list(row) for row in X]
    for unit, kind in zip(net.units, net.hidden):
        w, b = unit.weight.data[:, 0], unit.bias.data[0]
        for row in values:
            row.append(acts[kind](float(np.dot(row, w)) + b))
    H = np.array(values)
    return acts[net.output_activation](H @ net.output.weight.data + net.output.bias.data)


@pytest.mark.parametrize("output", ["sigmoid_symmetric", "identity", "tanh"])
def test_forward_is_the_cascade(output):
    net = _grown(output=output)
    X = np.random.default_rng(1).uniform(-2, 2, (7, 3))
    np.testing.assert_allclose(net(rg.tensor(X)).data, _numpy_cascade(net, X), rtol=1e-13, atol=1e-14)
    assert net.n_hidden == 4 and net.hidden == KINDS
    assert [u.weight.shape for u in net.units] == [(3, 1), (4, 1), (5, 1), (6, 1)]
    assert net.output.weight.shape == (7, 2)


def test_add_unit_keeps_the_old_output_weights_and_starts_the_new_row():
    net = _grown(kinds=["tanh"])
    before = net.output.weight.data.copy()
    net.add_unit("gaussian", np.arange(4.0), 0.5, output_weight=[7.0, -7.0])
    np.testing.assert_array_equal(net.output.weight.data[:4], before)
    np.testing.assert_array_equal(net.output.weight.data[4], [7.0, -7.0])
    np.testing.assert_array_equal(net.units[1].weight.data[:, 0], np.arange(4.0))
    assert net.units[1].bias.data[0] == 0.5
    net.add_unit("sigmoid", np.zeros(5), 0.0)                      # no output weights given: zeros
    np.testing.assert_array_equal(net.output.weight.data[5], [0.0, 0.0])


def test_gradients_of_a_grown_network_pass_gradcheck():
    net = _grown(n_in=2, n_out=1, kinds=["sigmoid_symmetric", "gaussian"])
    x = rg.tensor(np.random.default_rng(2).uniform(-1, 1, (4, 2)), requires_grad=True)
    assert rg.gradcheck(lambda x: net(x), (x,))
    params = list(net.parameters())
    assert len(params) == 2 * 2 + 2
    loss = rg.sum(net(x) * net(x))
    loss.backward()
    assert all(p.grad is not None and np.any(p.grad.data != 0) for p in params)


def test_save_and_load_rebuild_the_grown_network(tmp_path):
    net = _grown()
    X = np.random.default_rng(3).uniform(-1, 1, (5, 3))
    path = tmp_path / "cascade.safetensors"
    rg.save(net, path)
    back = rg.load(path)
    assert isinstance(back, CascadeNetwork) and back.hidden == KINDS
    np.testing.assert_array_equal(back(rg.tensor(X)).data, net(rg.tensor(X)).data)
    desc = describe(net)
    assert desc == {"type": "CascadeNetwork", "args": {"n_inputs": 3, "n_outputs": 2, "hidden": KINDS,
                                                        "output": "sigmoid_symmetric"}}
    assert [k for k in build(desc).state_dict()] == [k for k in net.state_dict()]


@pytest.mark.parametrize("args,match", [
    ({"n_inputs": 2, "n_outputs": 1, "hidden": ["relu"]}, r"argument hidden=\['relu'\]"),
    ({"n_inputs": 2, "n_outputs": 1, "output": "softmax"}, "argument output='softmax'"),
    ({"n_inputs": 0, "n_outputs": 1}, "argument n_inputs=0"),
    ({"n_inputs": 2, "n_outputs": 1, "hidden": ["tanh"] * (MAX_HIDDEN_UNITS + 1)}, "argument hidden="),
    ({"n_inputs": 2}, "the required argument 'n_outputs' is missing"),
])
def test_bad_descriptions_are_refused_before_anything_is_built(args, match):
    with pytest.raises(ArchitectureError, match=match):
        build({"type": "CascadeNetwork", "args": args})


@pytest.mark.parametrize("kwargs,match", [
    ({"hidden": ["relu"]}, "unknown hidden unit activation 'relu'"),
    ({"output": "softmax"}, "unknown output activation"),
    ({"n_inputs": 0}, "at least one input"),
    ({"hidden": ["tanh"] * (MAX_HIDDEN_UNITS + 1)}, "at most 2000"),
    ({"hidden": "tanh"}, "a list of unit kinds"),
])
def test_the_constructor_refuses_bad_arguments_too(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CascadeNetwork(**{"n_inputs": 2, "n_outputs": 1, **kwargs})


def test_bad_unit_and_input_shapes_are_named():
    net = _grown(kinds=["tanh"])
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        net.add_unit("tanh", np.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"output_weight must have shape \(2,\)"):
        net.add_unit("tanh", np.zeros(4), 0.0, output_weight=np.zeros(3))
    with pytest.raises(ValueError, match=r"input must have shape \(N, 3\)"):
        net(rg.tensor(np.zeros((2, 4))))
    with pytest.raises(ValueError, match="set_output_weights"):
        net.set_output_weights(np.zeros((3, 2)), np.zeros(2))


def test_numpy_derivatives_of_the_unit_kinds_match_autograd():
    x = rg.tensor(np.linspace(-3, 3, 13), requires_grad=True)
    for name, kind in UNIT_KINDS.items():
        x.grad = None
        y = kind.tensor_fn(x)
        rg.sum(y).backward()
        np.testing.assert_allclose(kind.value(x.data), y.data, rtol=1e-14, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(kind.prime(y.data, x.data), x.grad.data, rtol=1e-12, atol=1e-15, err_msg=name)


def test_fit_can_fine_tune_a_grown_network_and_the_compiled_step_matches():
    X = np.random.default_rng(5).uniform(-1, 1, (16, 3))
    T = np.sin(X.sum(axis=1, keepdims=True))
    runs = []
    for compile_ in (False, True):
        net = _grown(n_out=1, output="identity")
        opt = rg.optim.get("adam", net.parameters(), lr=1e-2)
        h = rg.fit(net, "mse", opt, (X, T), epochs=5, mode="batch", quiet=True, compile=compile_)
        runs.append((h["loss"], net.output.weight.data.copy()))
    assert runs[0][0][-1] < runs[0][0][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_absorbing_an_input_scaling_gives_the_same_outputs_on_raw_inputs():
    net = _grown()
    rng = np.random.default_rng(6)
    raw = rng.normal(50.0, 20.0, (9, 3))
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    before = net(rg.tensor((raw - mean) / scale)).data
    net.absorb_input_scaling(mean, scale)
    np.testing.assert_allclose(net(rg.tensor(raw)).data, before, rtol=1e-11, atol=1e-13)
    with pytest.raises(ValueError, match="absorb_input_scaling"):
        net.absorb_input_scaling(mean, np.zeros(3))
