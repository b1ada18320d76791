"""rg.onnx.export: every layer kind through onnx.checker (full) and onnxruntime, equal to retrograd to 1e-5."""
import sys

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flat(o)]
    return [out.data]


def ort_outputs(path, x, name="input"):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {name: x})


def reference(model, x):
    model.eval()
    with rg.no_grad():
        return _flat(model(rg.tensor(x) if x.dtype.kind == "f" else x))


def check(model, x, tmp_path, other_batch=None, **kw):
    """Export with example x; compare onnxruntime to retrograd on x and on a batch of another size."""
    path = tmp_path / "model.onnx"
    proto = rg.onnx.export(model, path, x, **kw)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    batches = [x] if other_batch is None else [x, other_batch]
    for inp in batches:
        want, got = reference(model, inp), ort_outputs(path, inp)
        assert len(want) == len(got)
        for a, b in zip(want, got):
            assert a.shape == b.shape
            np.testing.assert_allclose(b, a, rtol=0, atol=TOL)
    return proto


def randn(*shape, scale=1.0):
    return (np.random.standard_normal(shape) * scale).astype(np.float32)


ACTIVATIONS = [nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.SELU(), nn.GELU(),
               nn.GELU("tanh"), nn.SiLU(), nn.Softplus(), nn.Softplus(2.0), nn.Softsign(), nn.Gaussian(),
               nn.Hardsigmoid(), nn.Hardtanh(-0.5, 2.0), nn.Softmax(), nn.Softmax(0), nn.LogSoftmax(),
               nn.Identity()]


def test_every_activation_is_registered():
    from retrograd.io.onnx.registry import converter_for
    for cls in nn.activations.ACTIVATIONS.values():
        assert converter_for(cls()) is not None, cls.__name__


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: repr(a))
def test_activation(tmp_path, act):
    model = nn.Sequential(nn.Linear(4, 6), act)
    check(model, randn(5, 4, scale=2.0), tmp_path, other_batch=randn(3, 4, scale=2.0))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("opset", [13, 20])          # composed from Erf/Tanh before opset 20, one Gelu since
def test_gelu_across_opsets(tmp_path, approximate, opset):
    proto = check(nn.Sequential(nn.GELU(approximate)), randn(5, 4, scale=3.0), tmp_path, opset=opset)
    assert ("Gelu" in {n.op_type for n in proto.graph.node}) == (opset >= 20)


def test_mlp_with_output_softmax_and_standardisation(tmp_path):
    data = rg.data.Standardizer().fit(randn(50, 4) * 3 + 7)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    raw = randn(6, 4) * 3 + 7
    path = tmp_path / "m.onnx"
    rg.onnx.export(model, path, raw, output="softmax", scaler=data)
    with rg.no_grad():
        want = rg.softmax(model(rg.tensor(data.transform(raw).astype(np.float32))), axis=-1).data
    got = ort_outputs(path, raw)[0]
    np.testing.assert_allclose(got, want, atol=TOL)
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-6)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["retrograd.preprocessing"] == "Standardizer"
    assert props["retrograd.output_activation"] == "softmax"


def test_minmax_scaler_and_sigmoid(tmp_path):
    scaler = rg.data.MinMaxScaler((-1, 1)).fit(randn(40, 3))
    model = nn.Sequential(nn.Linear(3, 1))
    raw = randn(7, 3)
    path = tmp_path / "m.onnx"
    rg.onnx.export(model, path, raw, output="sigmoid", scaler=scaler)
    with rg.no_grad():
        want = rg.sigmoid(model(rg.tensor(scaler.transform(raw).astype(np.float32)))).data
    np.testing.assert_allclose(ort_outputs(path, raw)[0], want, atol=TOL)


def test_linear_without_bias_on_3d_input_and_float64_model(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 2)).double()
    x = randn(2, 5, 4)
    path = tmp_path / "m.onnx"
    rg.onnx.export(model, path, x)
    with rg.no_grad():
        want = model(rg.tensor(x.astype(np.float64))).data
    np.testing.assert_allclose(ort_outputs(path, x)[0], want, atol=TOL)


@pytest.mark.parametrize("conv,x_shape", [
    (nn.Conv1d(3, 4, 3), (2, 3, 10)),
    (nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (2, 4, 11)),
    (nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 2, 9, 9)),
    (nn.Conv2d(4, 4, (3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1), groups=4, bias=False), (3, 4, 8, 7)),
])
def test_convolution(tmp_path, conv, x_shape):
    check(nn.Sequential(conv), randn(*x_shape), tmp_path, other_batch=randn(1, *x_shape[1:]))


@pytest.mark.parametrize("pool,x_shape", [
    (nn.MaxPool1d(2), (2, 3, 9)), (nn.MaxPool1d(3, 2, 1), (2, 3, 10)),
    (nn.AvgPool1d(2), (2, 3, 8)), (nn.AvgPool1d(3, 1, 1), (2, 3, 7)),
    (nn.MaxPool2d(2), (2, 3, 8, 8)), (nn.MaxPool2d((3, 2), (2, 1), (1, 1)), (2, 3, 9, 7)),
    (nn.AvgPool2d(2), (2, 3, 8, 6)), (nn.AvgPool2d(3, 2, 1), (2, 3, 9, 9)),
])
def test_pooling(tmp_path, pool, x_shape):
    check(nn.Sequential(pool), randn(*x_shape), tmp_path, other_batch=randn(4, *x_shape[1:]))


def _randomise_stats(bn):
    bn.running_mean.data[...] = randn(bn.num_features)
    bn.running_var.data[...] = np.random.uniform(0.5, 2.0, bn.num_features).astype(np.float32)
    if bn.affine:
        bn.weight.data[...] = randn(bn.num_features)
        bn.bias.data[...] = randn(bn.num_features)
    return bn


@pytest.mark.parametrize("make,x_shape", [
    (lambda: _randomise_stats(nn.BatchNorm1d(5)), (4, 5)),
    (lambda: _randomise_stats(nn.BatchNorm1d(5, affine=False)), (4, 5, 6)),
    (lambda: _randomise_stats(nn.BatchNorm2d(3)), (2, 3, 4, 4)),
    (lambda: nn.BatchNorm1d(5, track_running_stats=False), (4, 5)),
    (lambda: nn.LayerNorm(6), (3, 6)),
    (lambda: nn.LayerNorm((4, 6), elementwise_affine=False), (2, 3, 4, 6)),
])
@pytest.mark.parametrize("opset", [13, 17, 18])      # 18: ReduceMean takes its axes as an input
def test_normalisation(tmp_path, make, x_shape, opset):
    layer = make()
    if isinstance(layer, nn.LayerNorm) and layer.weight is not None:
        layer.weight.data[...] = randn(*layer.normalized_shape)
        layer.bias.data[...] = randn(*layer.normalized_shape)
    check(nn.Sequential(layer), randn(*x_shape, scale=3.0), tmp_path, opset=opset)


def test_dropout_flatten_residual_identity_containers(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.Dropout(0.5), nn.Flatten(),
        nn.Residual(nn.Sequential(nn.Linear(32, 8), nn.Tanh(), nn.Linear(8, 32))),
        nn.Residual(nn.Linear(32, 4), shortcut=nn.Linear(32, 4, bias=False)),
        nn.Identity(), nn.Sequential(nn.Dropout(0.1), nn.Linear(4, 2)))
    model.train()
    rg.onnx.export(model, tmp_path / "first.onnx", randn(3, 1, 4, 4))
    assert all(m.training for m in model.modules())        # export leaves the modes as they were
    check(model, randn(3, 1, 4, 4), tmp_path, other_batch=randn(5, 1, 4, 4))


@pytest.mark.parametrize("flatten,x_shape", [
    (nn.Flatten(), (2, 3, 4)), (nn.Flatten(0), (2, 3, 4)), (nn.Flatten(1, 2), (2, 3, 4, 5)),
    (nn.Flatten(2), (2, 3, 4, 5)), (nn.Flatten(-1), (2, 3))])
def test_flatten_variants(tmp_path, flatten, x_shape):
    check(nn.Sequential(flatten), randn(*x_shape), tmp_path, other_batch=randn(5, *x_shape[1:]))


def test_embedding(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    idx = np.random.randint(0, 10, size=(5, 3))
    check(model, idx, tmp_path, other_batch=np.random.randint(0, 10, size=(2, 3)))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("layers,bidirectional,batch_first", [(1, False, False), (2, True, False),
                                                               (3, False, True), (2, True, True)])
def test_recurrent(tmp_path, cls, layers, bidirectional, batch_first):
    model = cls(4, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    shape = (3, 6, 4) if batch_first else (6, 3, 4)
    other = (2, 4, 4)
    path = tmp_path / "r.onnx"
    check(model, randn(*shape), path.parent, other_batch=randn(*other))
    names = [o.name for o in onnx.load(str(path.parent / "model.onnx")).graph.output]
    assert len(names) == (3 if cls is nn.LSTM else 2)
    dims = onnx.load(str(path.parent / "model.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims][:2] == (["batch", "sequence"] if batch_first else ["sequence", "batch"])


def test_rnn_relu_and_no_bias(tmp_path):
    check(nn.RNN(3, 4, nonlinearity="relu", num_layers=2, bias=False), randn(5, 2, 3), tmp_path)
    check(nn.GRU(3, 4, bias=False, bidirectional=True), randn(5, 2, 3), tmp_path)


def test_symbolic_batch_axis_in_the_file(tmp_path):
    path = tmp_path / "m.onnx"
    rg.onnx.export(nn.Sequential(nn.Linear(3, 2)), path)          # example from the first layer
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert graph.output[0].type.tensor_type.shape.dim[1].dim_value == 2
    for n in (1, 17):
        assert ort_outputs(path, randn(n, 3))[0].shape == (n, 2)


class Tagger(nn.Module):
    """A user module: an LSTM whose last step feeds a Linear (no built-in converter)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_unknown_module_is_refused_with_its_path_and_type(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Tanh(), Tagger()))
    with pytest.raises(rg.onnx.OnnxExportError, match=r"Tagger at '1\.1'.*register_converter"):
        rg.onnx.export(model, tmp_path / "m.onnx", randn(2, 3))
    assert not (tmp_path / "m.onnx").exists()


def test_recurrent_layer_inside_a_sequential_is_refused(tmp_path):
    model = nn.Sequential(nn.LSTM(3, 4), nn.Linear(4, 2))
    with pytest.raises(rg.onnx.OnnxExportError, match=r"LSTM at '0'.*Linear at '1'"):
        rg.onnx.export(model, tmp_path / "m.onnx", randn(5, 2, 3))


def test_registered_converter_for_a_user_module(tmp_path):
    from retrograd.io.onnx.registry import CONVERTERS

    @rg.onnx.register_converter(Tagger)
    def tagger(ctx, module, inputs, path):
        out, _h, _c = ctx.convert(module.lstm, inputs, f"{path}.lstm" if path else "lstm")
        last = ctx.node("Gather", [out.name, ctx.const(np.array(-1), "last")], path, axis=1)
        (y,) = ctx.convert(module.head, [ctx.value(last, out.example[:, -1])], "head")
        return [y.name]
    try:
        check(Tagger(), randn(2, 5, 3), tmp_path, other_batch=randn(4, 5, 3), dynamic_axes={0: "batch"})
    finally:
        del CONVERTERS[Tagger]


def test_failed_export_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(rg.onnx.OnnxExportError):
        rg.onnx.export(Tagger(), path, randn(2, 5, 3))
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="opset 9"):
        rg.onnx.export(nn.Linear(2, 2), tmp_path / "m.onnx", opset=9)
    with pytest.raises(ValueError, match="output must be"):
        rg.onnx.export(nn.Linear(2, 2), tmp_path / "m.onnx", output="relu")
    with pytest.raises(ValueError, match="pass example_input"):
        rg.onnx.export(nn.Conv1d(2, 2, 3), tmp_path / "m.onnx")
    with pytest.raises(rg.onnx.OnnxExportError, match=r"Linear at '0' fails on the example input of shape \(2, 5\)"):
        rg.onnx.export(nn.Sequential(nn.Linear(3, 2)), tmp_path / "m.onnx", randn(2, 5))


def test_missing_onnx_package_is_reported(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"retrograd\[onnx\]"):
        rg.onnx.export(nn.Linear(2, 2), tmp_path / "m.onnx")
    with pytest.raises(ImportError, match=r"retrograd\[onnx\]"):
        rg.onnx.load(tmp_path / "m.onnx")
