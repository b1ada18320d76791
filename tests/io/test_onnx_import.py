"""rg.onnx.load: our own files and PyTorch's round-trip to onnxruntime's outputs (1e-5) and train further."""
import warnings
from pathlib import Path

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

TOL = 1e-5


def randn(*shape):
    return np.random.standard_normal(shape).astype(np.float32)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [out.data]


def ort_run(path, *xs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})


def assert_matches_ort(path, *xs):
    module = rg.onnx.load(path)
    with rg.no_grad():
        out = module(*xs)
    out = out if isinstance(out, tuple) else (out,)
    want = ort_run(path, *xs)
    assert len(out) == len(want)
    for a, b in zip(out, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.data, b, rtol=0, atol=TOL)
    return module


# ---------------------------------------------------------------------------- our own files
@pytest.mark.parametrize("make,shape", [
    (lambda: nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3), nn.LogSoftmax()), (5, 4)),
    (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(4), nn.SiLU(),
                           nn.MaxPool2d(2, padding=1), nn.AvgPool2d(2, 1, 1), nn.Flatten(), nn.Linear(64, 2)),
     (3, 2, 9, 9)),
    (lambda: nn.Sequential(nn.Conv1d(3, 4, 3, dilation=2), nn.ELU(), nn.AvgPool1d(2), nn.Softplus(2.0)), (2, 3, 12)),
    (lambda: nn.LSTM(4, 5, num_layers=2, bidirectional=True), (6, 3, 4)),
    (lambda: nn.GRU(4, 5, num_layers=2, batch_first=True, bidirectional=True), (3, 6, 4)),
    (lambda: nn.RNN(4, 3, nonlinearity="relu", num_layers=2), (6, 3, 4)),
])
def test_roundtrip_of_exported_models(tmp_path, make, shape):
    model = make()
    path = tmp_path / "m.onnx"
    rg.onnx.export(model, path, randn(*shape))
    module = assert_matches_ort(path, randn(*shape))
    model.eval()
    with rg.no_grad():                                  # and the same function as the original
        want = model(rg.tensor(x := randn(*shape)))
        got = module(x)
    want, got = _flat(want), _flat(got)
    assert len(want) == len(got)
    for a, b in zip(want, got):
        np.testing.assert_allclose(b, a, atol=TOL)


def test_parameters_are_the_initializers_and_train_with_fit(tmp_path):
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    path = tmp_path / "m.onnx"
    rg.onnx.export(model, path)
    module = rg.onnx.load(path)
    assert sorted(module.onnx_names.values()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert module.num_parameters() == model.num_parameters()
    X = randn(64, 2)
    y = (np.sin(X[:, :1] * 2) + X[:, 1:] ** 2).astype(np.float32)
    before = float(rg.nn.functional.mse_loss(module(X), rg.tensor(y)).data)
    history = rg.fit(module, "mse", rg.optim.Adam(module.parameters(), lr=0.02), (X, y), epochs=60,
                     mode="batch", quiet=True)
    assert history["loss"][-1] < 0.5 * before
    path2 = tmp_path / "trained.onnx"                # the trained weights still run in onnxruntime
    proto = onnx.load(str(path))
    for init in proto.graph.initializer:
        ident = {v: k for k, v in module.onnx_names.items()}[init.name]
        init.CopyFrom(onnx.numpy_helper.from_array(getattr(module, ident).data, init.name))
    onnx.save(proto, str(path2))
    with rg.no_grad():
        np.testing.assert_allclose(module(X).data, ort_run(path2, X)[0], atol=TOL)


def test_gradients_match_finite_differences(tmp_path):
    model = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(15, 2))
    path = tmp_path / "m.onnx"
    rg.onnx.export(model, path, randn(2, 2, 5))
    module = rg.onnx.load(path).double()
    x = rg.tensor(np.random.standard_normal((2, 2, 5)), requires_grad=True)
    assert rg.gradcheck(lambda x, *ps: (module(x) ** 2).sum(), [x] + list(module.parameters()))


def test_lstm_gradients_reach_the_onnx_weights(tmp_path):
    lstm = nn.LSTM(3, 4, bidirectional=True)
    path = tmp_path / "m.onnx"
    rg.onnx.export(lstm, path, randn(5, 2, 3))
    module = rg.onnx.load(path).double()
    x = rg.tensor(np.random.standard_normal((4, 2, 3)), requires_grad=True)
    assert rg.gradcheck(lambda x, *ps: (module(x)[0] ** 2).sum(), [x] + list(module.parameters()))


# ---------------------------------------------------------------------------- files written by PyTorch
torch = pytest.importorskip("torch")


class LastStep(torch.nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell
        self.head = torch.nn.Linear(cell.hidden_size * (2 if cell.bidirectional else 1), 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def _torch_export(model, x, path):
    """The TorchScript exporter (dynamo=False): fast enough to run in the test."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}})


TORCH_MODELS = {
    "mlp": (lambda: torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8),
                                        torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.Softmax(-1)), (5, 4)),
    "cnn": (lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                                        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 4, 3, groups=2),
                                        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3)),
            (3, 1, 12, 12)),
    "cnn3d": (lambda: torch.nn.Sequential(torch.nn.Conv3d(2, 4, (3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 1),
                                                          groups=2), torch.nn.MaxPool3d(2), torch.nn.Flatten(),
                                          torch.nn.Linear(4 * 2 * 1 * 3, 2)), (2, 2, 4, 5, 6)),
    "lstm": (lambda: LastStep(torch.nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)), (3, 6, 3)),
    "gru": (lambda: LastStep(torch.nn.GRU(3, 5, batch_first=True)), (3, 6, 3)),
}


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_pytorch_torchscript_exports_match_onnxruntime_and_torch(tmp_path, name):
    torch.manual_seed(0)
    make, shape = TORCH_MODELS[name]
    model = make()
    if name == "cnn":                                 # running statistics that are not the defaults
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    path = tmp_path / f"{name}.onnx"
    _torch_export(model, torch.randn(*shape), path)
    module = assert_matches_ort(path, randn(*((7,) + shape[1:])))      # another batch size than the export's
    with torch.no_grad():
        x = randn(*shape)
        np.testing.assert_allclose(module(x).data, model(torch.from_numpy(x)).numpy(), atol=TOL)


FILES = Path(__file__).resolve().parent / "onnx_files"


@pytest.mark.parametrize("name,shape", [("dynamo_cnn", (1, 12, 12)), ("dynamo_lstm", (6, 3)),
                                        ("dynamo_gru", (6, 3))])
def test_pytorch_dynamo_exports_match_onnxruntime(name, shape):
    """Files written by torch.onnx.export(dynamo=True), weights in external data (make_torch_files.py)."""
    path = FILES / f"{name}.onnx"
    ops = {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    assert "Shape" in ops or name == "dynamo_cnn"          # the batch size is computed in the graph
    for batch in (1, 5):
        assert_matches_ort(path, randn(batch, *shape))


def test_pytorch_model_trains_further(tmp_path):
    torch.manual_seed(0)
    model = LastStep(torch.nn.GRU(3, 5, batch_first=True))
    path = tmp_path / "gru.onnx"
    _torch_export(model, torch.randn(2, 6, 3), path)
    module = rg.onnx.load(path)
    X = randn(32, 6, 3)
    y = np.random.randint(0, 3, 32)
    first = float(rg.nn.functional.cross_entropy(module(X), rg.tensor(y)).data)
    rg.fit(module, "cross_entropy", rg.optim.Adam(module.parameters(), lr=0.05), (X, y), epochs=30,
           mode="batch", quiet=True)
    assert float(rg.nn.functional.cross_entropy(module(X), rg.tensor(y)).data) < 0.5 * first


# ---------------------------------------------------------------------------- refusals and bounds
def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def test_unknown_op_is_refused_with_type_and_node_name():
    m = _model([helper.make_node("Relu", ["x"], ["h"], name="first"),
                helper.make_node("Hardmax", ["h"], ["y"], name="the_hardmax")], [_vi("x", [2, 3])], [_vi("y", [2, 3])])
    with pytest.raises(rg.onnx.OnnxLoadError, match=r"node 'the_hardmax' has op type 'Hardmax'"):
        rg.onnx.load(m.SerializeToString())


def test_other_domains_and_unimplemented_attributes_are_refused():
    m = _model([helper.make_node("Foo", ["x"], ["y"], name="custom", domain="com.example")],
               [_vi("x", [2])], [_vi("y", [2])])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(rg.onnx.OnnxLoadError, match="'custom'.*domain 'com.example'"):
        rg.onnx.load(m, check=False)
    m = _model([helper.make_node("MaxPool", ["x"], ["y"], name="mp", kernel_shape=[2, 2], storage_order=1)],
               [_vi("x", [1, 1, 4, 4])], [_vi("y", [1, 1, 2, 2])])
    with pytest.raises(rg.onnx.OnnxLoadError, match="'mp' \\(MaxPool\\) sets storage_order=1"):
        rg.onnx.load(m)


def test_tensor_data_must_match_its_dims():
    weight = onnx.numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    weight.dims[:] = [300000, 2]                        # claims 600000 floats, stores 6
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 300000])], [_vi("y", [1, 2])],
               [weight])
    with pytest.raises(rg.onnx.OnnxLoadError, match="initializer 'w': dims \\[300000, 2\\] need 2400000 bytes"):
        rg.onnx.load(m, check=False)


def test_external_data_stays_inside_the_model_directory(tmp_path):
    (tmp_path / "secret.bin").write_bytes(np.ones(6, np.float32).tobytes())
    inner = tmp_path / "model"
    inner.mkdir()
    weight = onnx.numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../secret.bin")
    m = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", [1, 3])], [_vi("y", [1, 2])], [weight])
    (inner / "m.onnx").write_bytes(m.SerializeToString())
    with pytest.raises(rg.onnx.OnnxLoadError, match="not a file inside"):
        rg.onnx.load(inner / "m.onnx", check=False)
    m.graph.initializer[0].external_data[0].value = "w.bin"     # inside, but shorter than the dims need
    (inner / "w.bin").write_bytes(np.ones(5, np.float32).tobytes())
    (inner / "m.onnx").write_bytes(m.SerializeToString())
    with pytest.raises(rg.onnx.OnnxLoadError, match="does not hold the 24 bytes"):
        rg.onnx.load(inner / "m.onnx", check=False)
    (inner / "w.bin").write_bytes(np.arange(6, dtype=np.float32).tobytes())
    module = rg.onnx.load(inner / "m.onnx")
    np.testing.assert_array_equal(module.w.data, np.arange(6, dtype=np.float32).reshape(3, 2))


def test_created_tensors_are_bounded():
    shape = onnx.numpy_helper.from_array(np.array([1 << 20, 1 << 20], np.int64), "shape")
    m = _model([helper.make_node("ConstantOfShape", ["shape"], ["z"]), helper.make_node("Add", ["x", "z"], ["y"])],
               [_vi("x", [1])], [_vi("y", [1 << 20, 1 << 20])], [shape])
    module = rg.onnx.load(m)
    with pytest.raises(rg.onnx.OnnxLoadError, match="ConstantOfShape.*more than the limit"):
        module(np.ones(1, np.float32))


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "x.onnx"
    path.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(rg.onnx.OnnxLoadError, match="x.onnx is not an ONNX model"):
        rg.onnx.load(path)
    with pytest.raises(rg.onnx.OnnxLoadError, match="cannot read ONNX file"):
        rg.onnx.load(tmp_path / "missing.onnx")
