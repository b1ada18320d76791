"""rg.save / rg.load: every layer type round-trips as a rebuilt module; state dicts; metadata; damaged files."""
import json

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.io import SafetensorsError, load_tensors

rng = np.random.default_rng(4)

# (module factory, input)
LAYERS = [
    ("Linear", lambda: nn.Linear(4, 3), rng.standard_normal((2, 4))),
    ("Linear_nobias", lambda: nn.Linear(4, 3, bias=False), rng.standard_normal((2, 4))),
    ("Conv1d", lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1), rng.standard_normal((2, 2, 7))),
    ("Conv2d", lambda: nn.Conv2d(2, 4, (3, 2), padding=1, dilation=(1, 2), groups=2),
     rng.standard_normal((2, 2, 6, 6))),
    ("MaxPool1d", lambda: nn.MaxPool1d(2), rng.standard_normal((2, 3, 8))),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1), rng.standard_normal((2, 3, 6, 6))),
    ("AvgPool1d", lambda: nn.AvgPool1d(2), rng.standard_normal((2, 3, 8))),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), rng.standard_normal((2, 3, 6, 6))),
    ("Flatten", lambda: nn.Flatten(), rng.standard_normal((2, 3, 4))),
    ("Dropout", lambda: nn.Dropout(0.3), rng.standard_normal((2, 3))),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(3), rng.standard_normal((5, 3))),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3, momentum=0.2), rng.standard_normal((2, 3, 4, 4))),
    ("LayerNorm", lambda: nn.LayerNorm((3, 4)), rng.standard_normal((2, 3, 4))),
    ("Embedding", lambda: nn.Embedding(10, 3), np.array([[1, 2], [9, 0]])),
    ("LSTM", lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True), rng.standard_normal((5, 2, 3))),
    ("GRU", lambda: nn.GRU(3, 4, batch_first=True), rng.standard_normal((2, 5, 3))),
    ("RNN", lambda: nn.RNN(3, 4, nonlinearity="relu", bias=False), rng.standard_normal((5, 2, 3))),
    ("Identity", lambda: nn.Identity(), rng.standard_normal((2, 3))),
] + [(f"act_{n}", (lambda n=n: nn.get_activation(n)), rng.standard_normal((2, 3)))
     for n in nn.activation_names()] + [
    ("LeakyReLU_param", lambda: nn.LeakyReLU(0.2), rng.standard_normal((2, 3))),
    ("Sequential_residual", lambda: nn.Sequential(nn.Linear(3, 5), nn.Tanh(),
                                                  nn.Residual(nn.Linear(5, 5)),
                                                  nn.Residual(nn.Linear(5, 2), shortcut=nn.Linear(5, 2, bias=False))),
     rng.standard_normal((2, 3))),
    ("ModuleList", lambda: nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]), None),
    ("ModuleDict", lambda: nn.ModuleDict({"enc": nn.Linear(2, 2), "act": nn.Sigmoid()}), None),
    ("Sigmoid_prime_offset", lambda: nn.Sigmoid(prime_offset=0.1), rng.standard_normal((2, 3))),
    ("CascadeNetwork", lambda: nn.CascadeNetwork(3, 2, hidden=["sigmoid_symmetric", "gaussian"], output="identity"),
     rng.standard_normal((2, 3))),
]


def _out(m, x):
    if x is None:
        return None
    y = m(x if x.dtype.kind in "iu" else rg.tensor(x.astype(np.float32)))
    return (y[0] if isinstance(y, tuple) else y).data


@pytest.mark.parametrize("name,make,x", LAYERS, ids=[r[0] for r in LAYERS])
def test_every_layer_round_trips_as_a_module(name, make, x, tmp_path):
    m = make()
    if name.startswith("BatchNorm"):
        m(rg.tensor(x.astype(np.float32)))                 # move the running statistics off their defaults
    m.eval()
    path = tmp_path / f"{name}.safetensors"
    rg.save(m, path)
    back = rg.load(path)
    assert type(back) is type(m)
    assert repr(back) == repr(m)
    a, b = m.state_dict(), back.state_dict()
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k].data, b[k].data)
    back.eval()
    if x is not None:
        np.testing.assert_array_equal(_out(m, x), _out(back, x))


def test_metadata_holds_version_and_architecture(tmp_path):
    m = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
    rg.save(m, tmp_path / "m.st", metadata={"run": "xor"})
    _, meta = load_tensors(tmp_path / "m.st")
    assert meta["retrograd.version"] == rg.__version__
    assert meta["run"] == "xor"
    arch = json.loads(meta["retrograd.architecture"])
    assert arch["type"] == "Sequential" and arch["children"][0][1] == {
        "type": "Linear", "args": {"in_features": 2, "out_features": 3, "bias": True}}
    obj, meta2 = rg.load(tmp_path / "m.st", return_metadata=True)
    assert meta2["retrograd.format"] == "module"


def test_float64_model_keeps_its_dtype(tmp_path):
    m = nn.Sequential(nn.Linear(2, 2), nn.Tanh()).to(np.float64)
    rg.save(m, tmp_path / "d.st")
    back = rg.load(tmp_path / "d.st")
    assert all(p.dtype == np.float64 for p in back.parameters())


def test_custom_module_is_saved_as_a_state_dict(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)
    net = Net()
    rg.save(net, tmp_path / "c.st")
    sd = rg.load(tmp_path / "c.st")
    assert isinstance(sd, dict) and list(sd) == ["fc.weight", "fc.bias"]
    assert isinstance(sd["fc.weight"], rg.Tensor)
    other = Net()
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.fc.weight.data, net.fc.weight.data)


def test_plain_state_dict_round_trip(tmp_path):
    sd = {"a": rg.tensor([1.0, 2.0]), "b": np.arange(3)}
    rg.save(sd, tmp_path / "s.st")
    back = rg.load(tmp_path / "s.st")
    np.testing.assert_array_equal(back["a"].data, [1.0, 2.0])
    np.testing.assert_array_equal(back["b"].data, [0, 1, 2])
    with pytest.raises(TypeError, match="expected a Module or a dict"):
        rg.save([1, 2], tmp_path / "x.st")


def test_loading_does_not_disturb_the_global_generator(tmp_path):
    rg.save(nn.Linear(3, 3), tmp_path / "l.st")
    rg.manual_seed(5)
    expected = rg.default_generator().random(3)
    rg.manual_seed(5)
    rg.load(tmp_path / "l.st")
    np.testing.assert_array_equal(rg.default_generator().random(3), expected)


def test_damaged_or_tampered_files_give_clear_errors(tmp_path):
    path = tmp_path / "m.st"
    rg.save(nn.Linear(3, 2), path)
    raw = path.read_bytes()
    (tmp_path / "cut.st").write_bytes(raw[:-3])
    with pytest.raises(SafetensorsError, match="cut.st.*truncated"):
        rg.load(tmp_path / "cut.st")
    flipped = bytearray(raw)
    flipped[-2] ^= 0x01
    (tmp_path / "flip.st").write_bytes(bytes(flipped))
    with pytest.raises(SafetensorsError, match="flip.st: checksum mismatch"):
        rg.load(tmp_path / "flip.st")
    # an architecture that names something outside the layer table is refused, never executed
    arrays, meta = load_tensors(path)
    meta["retrograd.architecture"] = json.dumps({"type": "os.system", "args": {"command": "echo hi"}})
    rg.io.save_tensors(arrays, tmp_path / "evil.st", meta)
    with pytest.raises(SafetensorsError, match="unknown layer type 'os.system'"):
        rg.load(tmp_path / "evil.st")
    (tmp_path / "foreign.st").write_text("not a model")
    with pytest.raises(SafetensorsError, match="foreign.st"):
        rg.load(tmp_path / "foreign.st")


# ------------------------------------------------------------------------------- untrusted architectures
def _with_architecture(tmp_path, name, desc, model=None):
    """A model file holding ``model``'s tensors (default Linear(2, 2)) and the architecture ``desc``."""
    rg.save(model if model is not None else nn.Linear(2, 2), tmp_path / "base.st")
    arrays, meta = load_tensors(tmp_path / "base.st")
    meta["retrograd.architecture"] = desc if isinstance(desc, str) else json.dumps(desc)
    rg.io.save_tensors(arrays, tmp_path / name, meta)
    return tmp_path / name


def test_a_small_file_claiming_a_huge_layer_is_refused_before_anything_is_built(tmp_path):
    import tracemalloc
    path = _with_architecture(tmp_path, "huge.st", {"type": "Linear", "args": {
        "in_features": 20000, "out_features": 20000, "bias": True}})
    assert path.stat().st_size < 1024
    tracemalloc.start()
    try:
        with pytest.raises(SafetensorsError, match=r"huge.st: tensor 'weight' has shape \(2, 2\), the "
                                                   r"architecture needs \(20000, 20000\)"):
            rg.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000          # building it would take 1.6 GB


def _nested(depth):
    desc = {"type": "Identity"}
    for _ in range(depth):
        desc = {"type": "Sequential", "children": [["0", desc]]}
    return desc


LINEAR_ARGS = {"in_features": 2, "out_features": 2, "bias": True}
# (architecture description or raw JSON text, message fragment)
BAD_ARCHITECTURES = [
    ({"args": LINEAR_ARGS}, "must be an object with a string 'type'"),
    ([["Linear", LINEAR_ARGS]], "must be an object with a string 'type'"),
    ({"type": 3}, "must be an object with a string 'type'"),
    ({"type": "Linear"}, "required argument 'in_features' is missing"),
    ({"type": "Linear", "args": {"in_features": 2}}, "required argument 'out_features' is missing"),
    ({"type": "Linear", "args": [2, 2]}, "arguments must be an object"),
    ({"type": "Linear", "args": dict(LINEAR_ARGS, in_features="2")}, "in_features='2' has the wrong type"),
    ({"type": "Linear", "args": dict(LINEAR_ARGS, in_features=2.0)}, "in_features=2.0 has the wrong type"),
    ({"type": "Linear", "args": dict(LINEAR_ARGS, in_features=-2)}, "in_features=-2 has the wrong type"),
    ({"type": "Linear", "args": dict(LINEAR_ARGS, bias="yes")}, "bias='yes' has the wrong type"),
    ({"type": "Linear", "args": dict(LINEAR_ARGS, init="evil")}, "unknown arguments ['init']"),
    ({"type": "Linear", "args": LINEAR_ARGS, "extra": 1}, "unexpected keys ['extra']"),
    ({"type": "Sequential", "children": {"0": {"type": "Linear", "args": LINEAR_ARGS}}}, "children must be a list"),
    ({"type": "Sequential", "children": [["0"]]}, "must be a [name, layer] pair"),
    ({"type": "Sequential", "children": [[0, {"type": "Identity"}]]}, "child name 0 is not allowed"),
    ({"type": "Sequential", "children": [["_parameters", {"type": "Identity"}]]}, "child name '_parameters'"),
    ({"type": "Sequential", "children": [["forward", {"type": "Identity"}]]}, "child name 'forward'"),
    ({"type": "Sequential", "children": [["a.b", {"type": "Identity"}]]}, "child name 'a.b'"),
    ({"type": "Sequential", "children": [["a", {"type": "Identity"}], ["a", {"type": "Identity"}]]},
     "two children named 'a'"),
    ({"type": "Residual", "body": {"type": "Identity"}}, "lacks ['shortcut']"),
    ({"type": "Conv1d", "args": {"in_channels": 3, "out_channels": 2, "kernel_size": 1, "groups": 2}},
     "must both be divisible by groups=2"),
    ({"type": "Conv2d", "args": {"in_channels": 2, "out_channels": 2, "kernel_size": [1, 2, 3]}},
     "kernel_size=[1, 2, 3] has the wrong type"),
    ({"type": "LSTM", "args": {"input_size": 2, "hidden_size": 2, "num_layers": 10 ** 9}},
     "needs more than 102 tensors, far more than the file holds"),
    ({"type": "Dropout", "args": {"p": 2.0}}, "cannot build Dropout"),          # (saved over Identity's no tensors)
    ({"type": "os.system", "args": {"command": "echo hi"}}, "unknown layer type 'os.system'"),
    (_nested(70), "nests deeper than 64 levels"),
    ('{"type": "Sequential", "children": [' + ",".join(['["%d", {"type": "Identity"}]' % i for i in range(100_001)])
     + "]}", "more than 100000 modules"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON (RecursionError"),
    ('{"type": "Linear", "args": {"in_features": ' + "9" * 5000 + "}}", "not valid JSON (ValueError"),
    ("{not json", "not valid JSON (JSONDecodeError"),
]


@pytest.mark.parametrize("desc,fragment", BAD_ARCHITECTURES, ids=[f"arch{i}" for i in range(len(BAD_ARCHITECTURES))])
def test_malformed_architectures_are_safetensors_errors_naming_the_file(tmp_path, desc, fragment):
    tensorless = isinstance(desc, dict) and desc.get("type") == "Dropout"
    path = _with_architecture(tmp_path, "bad.st", desc, nn.Identity() if tensorless else None)
    with pytest.raises(SafetensorsError) as info:
        rg.load(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value), str(info.value)


def test_tensor_kinds_are_checked_against_the_architecture(tmp_path):
    desc = {"type": "Linear", "args": LINEAR_ARGS}
    rg.io.save_tensors({"weight": np.zeros((2, 2), np.int32), "bias": np.zeros(2, np.float32)}, tmp_path / "i.st",
                       {"retrograd.architecture": json.dumps(desc)})
    with pytest.raises(SafetensorsError, match="tensor 'weight' has dtype int32, the architecture needs a floating"):
        rg.load(tmp_path / "i.st")
    rg.io.save_tensors({"bias": np.zeros(2, np.float32)}, tmp_path / "m.st",
                       {"retrograd.architecture": json.dumps(desc)})
    with pytest.raises(SafetensorsError, match=r"missing \['weight'\]"):
        rg.load(tmp_path / "m.st")


@pytest.mark.parametrize("name,make,x", LAYERS, ids=[r[0] for r in LAYERS])
def test_checked_shapes_match_the_built_layers(name, make, x):
    """arch_check's tables give exactly the tensors each layer builds, with every argument given or defaulted."""
    from retrograd.nn.arch import build, describe
    from retrograd.nn.arch_check import _REQUIRED, ARGUMENTS, expected_state
    desc = describe(make())

    def real(module):
        return {k: (tuple(v.shape), "i" if v.data.dtype.kind in "iu" else "f") for k, v in module.state_dict().items()}
    assert expected_state(desc) == real(make())

    def required_only(d):
        if "args" in d:
            d = dict(d, args={k: v for k, v in d["args"].items() if ARGUMENTS[d["type"]][k][1] is _REQUIRED})
        for key in ("body", "shortcut"):
            if key in d:
                d = dict(d, **{key: required_only(d[key])})
        if "children" in d:
            d = dict(d, children=[[n, required_only(c)] for n, c in d["children"]])
        return d
    minimal = required_only(desc)
    assert expected_state(minimal) == real(build(minimal))
