"""Devices on the CPU: Module.to and Optimizer.to (dtype, 'cpu'), state that follows its parameters,
the one error for a missing GPU (both cases), fit / CLI / estimators taking a device, files across it.

The GPU side of each feature is in tests/gpu/ (skipped without CuPy and a GPU).
"""
import numpy as np
import pytest

import retrograd as rg
from retrograd import backend
from retrograd.training.device import Placement, fits_whole

NO_GPU = not rg.gpu_available()
CUPY_MISSING = backend._cupy is None and backend._CUPY_IMPORT_ERROR is None


def _net(dtype=np.float32):
    return rg.nn.Sequential(rg.nn.Linear(3, 4, dtype=dtype, generator=0), rg.nn.Tanh(),
                            rg.nn.BatchNorm1d(4, dtype=dtype), rg.nn.Linear(4, 2, dtype=dtype, generator=1))


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, (X[:, 0] > 0).astype(int)


# --------------------------------------------------------------------- parsing


@pytest.mark.parametrize("given,canonical", [("cpu", "cpu"), ("CUDA", "cuda"), ("gpu", "cuda"),
                                             ("cuda:1", "cuda:1"), (None, "cpu"), (" cpu ", "cpu")])
def test_device_names(given, canonical):
    assert backend.parse_device(given) == canonical


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cuda:", 3, "mps"])
def test_a_bad_device_name_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match=r"fit\(\): device must be 'cpu' or 'cuda'.*" + repr(bad).replace("'", ".")):
        backend.parse_device(bad, "fit(): device")


def test_to_reads_devices_and_dtypes_in_any_order():
    parse = backend.device_and_dtype
    assert parse(("cuda", np.float64), None, None, "M") == ("cuda", np.dtype(np.float64))
    assert parse(("float32", "cpu"), None, None, "M") == ("cpu", np.dtype(np.float32))
    assert parse((), "gpu", "float16", "M") == ("cuda", np.dtype(np.float16))
    with pytest.raises(TypeError, match="floating"):
        parse((np.int32,), None, None, "M")
    with pytest.raises(TypeError, match="two dtypes"):
        parse((np.float32, np.float64), None, None, "M")
    with pytest.raises(TypeError, match="expected a device"):
        parse((object(),), None, None, "M")


# --------------------------------------------------------------------- Module.to


def test_module_to_dtype_casts_in_place_and_keeps_the_objects():
    net = _net()
    net(rg.tensor(np.ones((5, 3), np.float32))).sum().backward()
    params = list(net.parameters())
    before = [p.data.copy() for p in params]
    assert net.to(np.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]       # the same Parameter objects
    for p, b in zip(params, before):
        assert p.dtype == np.float64 and p.grad.dtype == np.float64
        np.testing.assert_array_equal(p.data, b.astype(np.float64))
    bn = net[2]
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64   # ints keep theirs
    net.to("cpu", "float32")
    assert all(p.dtype == np.float32 for p in net.parameters())


def test_module_to_cpu_moves_nothing_and_bad_targets_fail():
    net = _net()
    arrays = [p.data for p in net.parameters()]
    net.to("cpu")
    assert all(p.data is a for p, a in zip(net.parameters(), arrays))
    with pytest.raises(ValueError, match="device must be"):
        net.to(device="tpu")
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int64)


# --------------------------------------------------------------------- optimizer state


def _steps(opt, net, X, y, n):
    loss_fn = rg.nn.CrossEntropyLoss()
    for _ in range(n):
        def closure():
            opt.zero_grad()
            loss = loss_fn(net(rg.tensor(X.astype(net[0].weight.dtype))), rg.tensor(y))
            loss.backward()
            return loss
        opt.step(closure)


@pytest.mark.parametrize("name", ["adam", "sgd", "rprop", "lbfgs", "delta_bar_delta"])
def test_optimizer_state_follows_a_module_to_dtype_without_being_told(name):
    X, y = _data()
    hyper = {"momentum": 0.9} if name == "sgd" else {}
    runs = []
    for explicit in (False, True):
        net = _net()
        opt = rg.optim.get(name, net.parameters(), **hyper)
        _steps(opt, net, X, y, 2)
        net.to(np.float64)
        if explicit:
            opt.to(np.float64)
        _steps(opt, net, X, y, 2)
        arrays = [v for st in opt.state.values() for v in st.values() if isinstance(v, np.ndarray)]
        arrays += list(getattr(opt, "_dirs", []))
        assert arrays and all(a.dtype == np.float64 for a in arrays if a.dtype.kind == "f"), name
        runs.append([p.data.copy() for p in net.parameters()])
    for a, b in zip(*runs):                         # moving lazily = moving by hand
        np.testing.assert_array_equal(a, b)


def test_optimizer_to_casts_every_state_array_and_a_saved_state_joins_its_parameters():
    X, y = _data()
    net = _net()
    opt = rg.optim.LBFGS(net.parameters(), history_size=3)
    _steps(opt, net, X, y, 2)
    assert opt._dirs and opt._dirs[0].dtype == np.float32
    assert opt.to(np.float64) is opt
    assert all(d.dtype == np.float64 for d in opt._dirs + opt._stps)
    saved = rg.optim.Adam(net.parameters())
    _steps(saved, net, X, y, 1)
    state = saved.state_dict()
    net.to(np.float64)
    fresh = rg.optim.Adam(net.parameters())
    fresh.load_state_dict(state)
    assert all(v.dtype == np.float64 for st in fresh.state.values() for v in st.values() if hasattr(v, "dtype"))


# --------------------------------------------------------------------- the missing-GPU error


@pytest.mark.skipif(not CUPY_MISSING, reason="CuPy is installed here")
def test_asking_for_cuda_without_cupy_is_one_error_saying_how_to_install_it():
    net = _net()
    with pytest.raises(rg.DeviceError) as info:
        net.to("cuda")
    message = str(info.value)
    assert "CuPy, which is not installed" in message and "pip install 'retrograd[gpu]'" in message
    assert "cupy-cuda12x" in message
    assert all(type(p.data) is np.ndarray for p in net.parameters())      # nothing moved
    for call in (lambda: rg.tensor([1.0], device="cuda"), lambda: rg.optim.SGD(net.parameters()).to("cuda"),
                 lambda: rg.fit(net, "cross_entropy", rg.optim.SGD(net.parameters()), _data(), epochs=1,
                                quiet=True, device="cuda")):
        with pytest.raises(rg.DeviceError, match="not installed"):
            call()
    assert all(type(p.data) is np.ndarray for p in net.parameters())


def test_the_message_when_cupy_is_there_but_no_gpu():
    # built directly: making CuPy importable without a GPU would need a stand-in for CuPy
    message = backend.gpu_missing_message("13.3.0", "CUDARuntimeError: cudaErrorNoDevice: no CUDA-capable "
                                                     "device is detected")
    assert message.startswith("device 'cuda' asked for: CuPy 13.3.0 is installed but finds no usable GPU")
    assert "cudaErrorNoDevice" in message and "nvidia-smi" in message and "CUDA_VISIBLE_DEVICES" in message
    broken = backend.gpu_missing_message(None, "ImportError: libcudart.so.12: cannot open shared object file")
    assert "installed but cannot be imported" in broken and "libcudart" in broken
    assert "retrograd[gpu]" in broken


# --------------------------------------------------------------------- fit, CLI and estimators on 'cpu'


def test_fit_on_cpu_is_fit_without_a_device():
    X, y = _data(40)
    histories = []
    for device in (None, "cpu"):
        net = _net()
        h = rg.fit(net, "cross_entropy", rg.optim.Adam(net.parameters(), lr=0.01), (X, y), epochs=3,
                   batch_size=8, quiet=True, device=device, validation_split=0.25, metrics=["accuracy"])
        histories.append((h["loss"], h["val_loss"], [p.data.copy() for p in net.parameters()]))
    assert histories[0][:2] == histories[1][:2]
    for a, b in zip(histories[0][2], histories[1][2]):
        np.testing.assert_array_equal(a, b)


def test_fit_rejects_a_bad_device_name():
    net = _net()
    with pytest.raises(ValueError, match="fit\\(\\): device"):
        rg.fit(net, "cross_entropy", rg.optim.SGD(net.parameters()), _data(), epochs=1, quiet=True, device="tpu")


def test_placement_copies_the_data_whole_only_when_they_fit():
    assert fits_whole(100, 400) and fits_whole(200, 400) and not fits_whole(201, 400)
    assert not fits_whole(1, None)                  # no device memory to read: batch by batch
    X, y = _data()
    place = Placement("cpu")
    assert place.data(X, y) == (X, y) and place.batch(X) is X and place.order(np.arange(3)) is not None
    assert Placement.of(_net(), None).device == "cpu"


def test_cli_takes_a_device(tmp_path, capsys):
    from retrograd.cli import main
    common = ["train", "--data", "xor", "--epochs", "2", "--no-plots", "-q"]
    assert main(common + ["--device", "cpu", "--out", str(tmp_path / "a")]) == 0
    assert 'device = "cpu"' in (tmp_path / "a" / "config.toml").read_text()
    capsys.readouterr()
    assert main(common + ["--device", "tpu", "--out", str(tmp_path / "b")]) == 2
    assert "[train] device = 'tpu' must be 'cpu' or 'cuda'" in capsys.readouterr().err
    if CUPY_MISSING:
        assert main(common + ["--device", "cuda", "--out", str(tmp_path / "c")]) == 1
        err = capsys.readouterr().err
        assert "device error: device 'cuda' needs CuPy" in err and "Traceback" not in err


def test_estimators_take_a_device():
    pytest.importorskip("sklearn")
    from retrograd.sklearn import MLPClassifier
    X, y = _data(30)
    a = MLPClassifier(hidden_layer_sizes=(4,), epochs=3).fit(X, y).predict_proba(X)
    b = MLPClassifier(hidden_layer_sizes=(4,), epochs=3, device="cpu").fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert MLPClassifier(device="cuda").get_params()["device"] == "cuda"
    with pytest.raises(ValueError, match="device"):
        MLPClassifier(device="tpu").fit(X, y)
    if CUPY_MISSING:
        with pytest.raises(rg.DeviceError, match="not installed"):
            MLPClassifier(epochs=1, device="cuda").fit(X, y)


# --------------------------------------------------------------------- files


def test_model_files_load_onto_the_cpu_and_state_dicts_go_where_the_model_is(tmp_path):
    net = _net()
    rg.save(net, tmp_path / "m.safetensors")
    back = rg.load(tmp_path / "m.safetensors", device="cpu")
    for (name, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
        assert type(b.data) is np.ndarray
        np.testing.assert_array_equal(a.data, b.data)
    rg.save(net.state_dict(), tmp_path / "s.safetensors")
    other = _net(np.float32)
    other.load_state_dict(rg.load(tmp_path / "s.safetensors"))
    for a, b in zip(net.parameters(), other.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="device must be"):
        rg.load(tmp_path / "m.safetensors", device="tpu")
