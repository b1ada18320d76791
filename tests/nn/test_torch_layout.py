"""PyTorch weights both ways: torch state dicts (dicts, safetensors files) into the equivalent retrograd models and back, same outputs."""
from collections import OrderedDict

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def _close(ours, theirs, dtype, what=""):
    ref = theirs.detach().numpy()
    got = np.asarray(getattr(ours, "data", ours))
    assert got.dtype == ref.dtype, what
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(got, ref, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def _torch_dtype(dtype):
    return torch.float64 if dtype == np.float64 else torch.float32


def _randomise_torch(model, seed):
    """Random values for every parameter and buffer (BatchNorm running stats too), so nothing is left at a default."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.dtype == torch.int64:
                t.fill_(7)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.5)


def _randomise_ours(model, seed):
    rng = np.random.default_rng(seed)
    for name, t in model.state_dict().items():
        if t.dtype == np.int64:
            t.data[...] = 5
        elif name.endswith("running_var"):
            t.data[...] = rng.random(t.shape) + 0.5
        else:
            t.data[...] = rng.standard_normal(t.shape) * 0.5


# ------------------------------------------------------------------ equivalent model pairs
def mlp_pair():
    ours = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    theirs = tnn.Sequential(tnn.Linear(6, 16), tnn.Tanh(), tnn.Linear(16, 8), tnn.ReLU(), tnn.Linear(8, 3))
    return ours, theirs, lambda rng: rng.standard_normal((5, 6))


def cnn_pair():
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Identity(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 5))
    theirs = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(), tnn.MaxPool2d(2),
                            tnn.Identity(), tnn.Flatten(), tnn.Linear(4 * 4 * 4, 8), tnn.BatchNorm1d(8), tnn.Tanh(),
                            tnn.Linear(8, 5))
    return ours, theirs, lambda rng: rng.standard_normal((3, 2, 8, 8))


def conv1d_pair():
    ours = nn.Sequential(nn.Conv1d(3, 6, 3, stride=2, padding=1, dilation=1, groups=3), nn.ReLU(),
                         nn.Conv1d(6, 4, 2, dilation=2), nn.Flatten(), nn.Linear(4 * 3, 2))
    theirs = tnn.Sequential(tnn.Conv1d(3, 6, 3, stride=2, padding=1, groups=3), tnn.ReLU(),
                            tnn.Conv1d(6, 4, 2, dilation=2), tnn.Flatten(), tnn.Linear(4 * 3, 2))
    return ours, theirs, lambda rng: rng.standard_normal((2, 3, 10))


class _OurSeqModel(nn.Module):
    """Embedding -> LayerNorm -> a recurrent layer -> Linear on the last step, named as the torch twin."""

    def __init__(self, cell):
        super().__init__()
        self.emb = nn.Embedding(11, 5)
        self.norm = nn.LayerNorm(5)
        self.rnn = getattr(nn, cell)(5, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(12, 3)

    def forward(self, idx):
        out, _ = self.rnn(self.norm(self.emb(idx)))
        return self.head(out[:, -1])


class _TheirSeqModel(tnn.Module):
    def __init__(self, cell):
        super().__init__()
        self.emb = tnn.Embedding(11, 5)
        self.norm = tnn.LayerNorm(5)
        self.rnn = getattr(tnn, cell)(5, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.head = tnn.Linear(12, 3)

    def forward(self, idx):
        out, _ = self.rnn(self.norm(self.emb(idx)))
        return self.head(out[:, -1])


def seq_pair(cell):
    def make():
        return _OurSeqModel(cell), _TheirSeqModel(cell), lambda rng: rng.integers(0, 11, size=(3, 7))
    return make


PAIRS = {"mlp": mlp_pair, "cnn": cnn_pair, "conv1d": conv1d_pair, "lstm": seq_pair("LSTM"),
         "gru": seq_pair("GRU"), "rnn": seq_pair("RNN")}


def _build(kind, dtype):
    ours, theirs, draw = PAIRS[kind]()
    ours.to(dtype)
    theirs.to(_torch_dtype(dtype))
    return ours, theirs, draw


def _forward_both(ours, theirs, x, dtype):
    xt = torch.from_numpy(x)
    xo = x if x.dtype.kind in "iu" else x.astype(dtype)
    if x.dtype.kind == "f":
        xt = xt.to(_torch_dtype(dtype))
    with torch.no_grad():
        ref = theirs(xt)
    with rg.no_grad():
        out = ours(rg.tensor(xo) if x.dtype.kind == "f" else xo)
    return out, ref


# ------------------------------------------------------------------ torch -> retrograd
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", list(PAIRS))
def test_torch_weights_load_and_give_torchs_outputs(kind, dtype):
    ours, theirs, draw = _build(kind, dtype)
    _randomise_torch(theirs, seed=1)
    missing, unexpected = ours.load_state_dict(theirs.state_dict(), layout="torch")   # torch tensors as they are
    assert missing == [] and unexpected == []
    rng = np.random.default_rng(2)
    for mode in ("eval", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        out, ref = _forward_both(ours, theirs, draw(rng), dtype)
        _close(out, ref, dtype, f"{kind} {mode}")
    if kind == "cnn":   # a training-mode pass moved the running statistics the same way
        mine = ours.state_dict(layout="torch")
        for name, t in theirs.state_dict().items():
            if t.is_floating_point():
                _close(mine[name], t, dtype, name)
        assert int(ours[1].num_batches_tracked.data) == int(theirs[1].num_batches_tracked) == 8


def test_numpy_arrays_from_dot_numpy_load_too():
    ours, theirs, draw = _build("lstm", np.float32)
    _randomise_torch(theirs, seed=3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()}, layout="torch")
    ours.eval()
    theirs.eval()
    out, ref = _forward_both(ours, theirs, draw(np.random.default_rng(0)), np.float32)
    _close(out, ref, np.float32)


def test_a_safetensors_file_written_by_safetensors_torch_loads(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    ours, theirs, draw = _build("cnn", np.float32)
    _randomise_torch(theirs, seed=4)
    path = tmp_path / "cnn.safetensors"
    st.save_file(theirs.state_dict(), str(path))
    ours.load_state_dict(str(path), layout="torch")
    ours.eval()
    theirs.eval()
    out, ref = _forward_both(ours, theirs, draw(np.random.default_rng(1)), np.float32)
    _close(out, ref, np.float32)


# ------------------------------------------------------------------ retrograd -> torch
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind", list(PAIRS))
def test_our_torch_layout_state_dict_loads_strictly_into_torch(kind, dtype):
    ours, theirs, draw = _build(kind, dtype)
    _randomise_ours(ours, seed=5)
    sd = ours.state_dict(layout="torch")
    assert list(sd) == list(theirs.state_dict())       # the same names in the same order
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    ours.eval()
    theirs.eval()
    out, ref = _forward_both(ours, theirs, draw(np.random.default_rng(6)), dtype)
    _close(out, ref, dtype, kind)


def test_the_torch_layout_is_a_copy_and_linear_is_transposed():
    ours = nn.Sequential(nn.Linear(3, 2))
    sd = ours.state_dict(layout="torch")
    assert sd["0.weight"].shape == (2, 3) and sd["0.weight"].flags.c_contiguous
    np.testing.assert_array_equal(sd["0.weight"], ours[0].weight.data.T)
    sd["0.bias"][...] = 9.0
    assert not np.any(ours[0].bias.data == 9.0)


def test_a_file_saved_by_us_loads_in_safetensors_torch(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    ours, theirs, draw = _build("gru", np.float32)
    _randomise_ours(ours, seed=8)
    rg.io.save_tensors(ours.state_dict(layout="torch"), tmp_path / "gru.safetensors")
    theirs.load_state_dict(st.load_file(str(tmp_path / "gru.safetensors")), strict=True)
    out, ref = _forward_both(ours.eval(), theirs.eval(), draw(np.random.default_rng(9)), np.float32)
    _close(out, ref, np.float32)


def test_round_trip_through_torch_layout_is_exact():
    ours, _, _ = _build("cnn", np.float64)
    _randomise_ours(ours, seed=10)
    twin, _, _ = _build("cnn", np.float64)
    twin.load_state_dict(ours.state_dict(layout="torch"), layout="torch")
    for (k, a), (_, b) in zip(ours.state_dict().items(), twin.state_dict().items()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=k)


# ------------------------------------------------------------------ errors
def test_a_wrong_shape_names_the_tensor_and_the_expected_shape():
    ours = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    theirs = tnn.Sequential(tnn.Linear(6, 16), tnn.Tanh(), tnn.Linear(16, 4))
    before = ours[2].weight.data.copy()
    with pytest.raises(ValueError) as err:
        ours.load_state_dict(theirs.state_dict(), layout="torch")
    msg = str(err.value)
    assert "'2.weight'" in msg and "(4, 16)" in msg and "(3, 16)" in msg and "(out_features, in_features)" in msg
    np.testing.assert_array_equal(ours[2].weight.data, before)   # nothing was written
    # untransposed weights (our own layout passed as torch's) are caught at the first Linear
    with pytest.raises(ValueError, match=r"'0\.weight' has shape \(6, 16\), expected '0\.weight' of shape \(16, 6\)"):
        ours.load_state_dict(OrderedDict((k, v.data) for k, v in ours.state_dict().items()), layout="torch")


def test_a_wrong_name_names_the_first_misfit_and_the_expected_one():
    ours = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))

    class Named(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = tnn.Linear(6, 16), tnn.Linear(16, 3)
    with pytest.raises(KeyError) as err:
        ours.load_state_dict(Named().state_dict(), layout="torch")
    msg = str(err.value)
    assert "'fc1.weight' (position 0, shape (16, 6))" in msg and "'0.weight' of shape (16, 6)" in msg
    # a DataParallel-style prefix gets a hint
    wrapped = {"module." + k: v for k, v in tnn.Sequential(tnn.Linear(6, 16), tnn.Tanh(),
                                                           tnn.Linear(16, 3)).state_dict().items()}
    with pytest.raises(KeyError, match="'module.'"):
        ours.load_state_dict(wrapped, layout="torch")
    # strict=False loads the common part and reports the rest
    partial = {k: v for k, v in tnn.Sequential(tnn.Linear(6, 16)).state_dict().items()}
    missing, unexpected = ours.load_state_dict(partial, strict=False, layout="torch")
    assert missing == ["2.weight", "2.bias"] and unexpected == []
    np.testing.assert_array_equal(ours[0].bias.data, partial["0.bias"].numpy())


def test_missing_batchnorm_buffer_and_dtype_mismatch_are_named():
    ours = nn.Sequential(nn.BatchNorm1d(4))
    theirs = tnn.Sequential(tnn.BatchNorm1d(4))
    sd = theirs.state_dict()
    del sd["0.num_batches_tracked"]
    with pytest.raises(KeyError, match="'0.num_batches_tracked' of shape \\(\\)"):
        ours.load_state_dict(sd, layout="torch")
    with pytest.raises(ValueError, match=r"'0.weight' has dtype float64, the model's is float32"):
        ours.load_state_dict(theirs.double().state_dict(), layout="torch")
    with pytest.raises(ValueError, match="layout must be 'retrograd' or 'torch'"):
        ours.state_dict(layout="pytorch")
