"""fit, the CLI, the estimators and the files on the GPU: the same results as on the CPU, files across devices."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import retrograd as rg
from retrograd import backend
from retrograd.training.device import Placement

ROOT = Path(__file__).resolve().parents[2]


def _classes(n=96, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)


def _mlp(dtype=np.float64):
    return rg.nn.Sequential(rg.nn.Linear(4, 8, dtype=dtype, generator=0), rg.nn.Tanh(),
                            rg.nn.Linear(8, 3, dtype=dtype, generator=1))


def _conv(dtype=np.float64):
    return rg.nn.Sequential(rg.nn.Conv2d(1, 4, 3, padding=1, dtype=dtype, generator=0), rg.nn.ReLU(),
                            rg.nn.MaxPool2d(2), rg.nn.BatchNorm2d(4, dtype=dtype), rg.nn.Flatten(),
                            rg.nn.Linear(36, 3, dtype=dtype, generator=1))


class _Seq(rg.nn.Module):
    def __init__(self, dtype=np.float64):
        super().__init__()
        self.rnn = rg.nn.LSTM(3, 6, batch_first=True, dtype=dtype, generator=0)
        self.head = rg.nn.Linear(6, 3, dtype=dtype, generator=1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


# Short runs of well-conditioned steps: the GPU's sums are ordered differently (cuBLAS, the fused
# kernels), and methods that amplify rounding (Adam on gradients near 0 after batch norm, L-BFGS near
# its solution) would turn 1e-16 into 1e-9 within a few epochs; tests/gpu/test_optimizers.py has
# every optimizer over a few steps.
CASES = {
    "mlp_sgd": (_mlp, lambda X: X, "sgd", {"lr": 0.05, "momentum": 0.9}, "minibatch"),
    "mlp_adam": (_mlp, lambda X: X, "adam", {"lr": 0.01}, "minibatch"),
    "mlp_lbfgs": (_mlp, lambda X: X, "lbfgs", {"line_search_fn": "strong_wolfe", "max_iter": 4}, "batch"),
    "mlp_rprop": (_mlp, lambda X: X, "rprop", {}, "batch"),
    "conv_bn_sgd": (_conv, lambda X: np.tile(X, 9)[:, :36].reshape(-1, 1, 6, 6), "sgd",
                    {"lr": 0.02, "momentum": 0.9}, "minibatch"),
    "lstm_adam": (_Seq, lambda X: np.tile(X, 5)[:, :18].reshape(-1, 6, 3), "adam", {"lr": 0.01}, "minibatch"),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CASES))
def test_fit_on_gpu_matches_cpu(name, dtype):
    make, shape, opt, hyper, mode = CASES[name]
    X, y = _classes()
    X = shape(X)
    out = {}
    for device in ("cpu", "cuda"):
        model = make(dtype)
        h = rg.fit(model, "cross_entropy", rg.optim.get(opt, model.parameters(), **hyper), (X, y), epochs=2,
                   mode=mode, batch_size=16, quiet=True, device=device, validation_split=0.25,
                   metrics=["accuracy"])
        assert all(backend.device_of(p.data) == device for p in model.parameters())
        out[device] = (np.array(h["loss"] + h["val_loss"]), [backend.to_host(p.data) for p in model.parameters()])
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out["cuda"][0], out["cpu"][0], rtol=tol * 10, atol=tol)
    for c, g in zip(out["cpu"][1], out["cuda"][1]):
        np.testing.assert_allclose(g, c, rtol=tol * 10, atol=tol * max(1.0, float(np.abs(c).max())))


@pytest.mark.parametrize("name", ["lm", "br"])
def test_levenberg_marquardt_fits_on_the_gpu(name):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 2))
    y = np.sin(2 * X[:, :1]) * X[:, 1:]
    out = {}
    for device in ("cpu", "cuda"):
        model = rg.nn.Sequential(rg.nn.Linear(2, 6, dtype=np.float64, generator=0), rg.nn.Tanh(),
                                 rg.nn.Linear(6, 1, dtype=np.float64, generator=1))
        h = rg.fit(model, "mse", rg.optim.get(name, model.parameters()), (X, y), epochs=5, mode="batch",
                   quiet=True, device=device)
        out[device] = np.array(h["loss"])
    np.testing.assert_allclose(out["cuda"], out["cpu"], rtol=1e-8)
    assert out["cuda"][-1] < out["cuda"][0]


def test_data_too_large_for_the_device_go_batch_by_batch():
    X, y = _classes()
    place = Placement("cuda")
    Xd, yd = place.data(X, y, free_bytes=X.nbytes)         # more than half the free memory: stays on the host
    assert not place.whole and Xd is X
    assert backend.device_of(place.batch(X[:4])) == "cuda"
    Xd, yd = place.data(X, y, free_bytes=10 * X.nbytes)
    assert place.whole and backend.device_of(Xd) == "cuda" and backend.device_of(yd) == "cuda"


def test_models_and_checkpoints_saved_on_the_gpu_load_on_the_cpu_and_back(tmp_path):
    X, y = _classes()
    model = _mlp()
    opt = rg.optim.Adam(model.parameters(), lr=0.01)
    rg.fit(model, "cross_entropy", opt, (X, y), epochs=2, quiet=True, device="cuda",
           checkpoint=str(tmp_path / "ck.safetensors"))
    rg.save(model, tmp_path / "m.safetensors")
    on_cpu = rg.load(tmp_path / "m.safetensors")
    on_gpu = rg.load(tmp_path / "m.safetensors", device="cuda")
    for a, b, c in zip(model.parameters(), on_cpu.parameters(), on_gpu.parameters()):
        assert type(b.data) is np.ndarray and c.device == "cuda"
        np.testing.assert_array_equal(backend.to_host(a.data), b.data)
        np.testing.assert_array_equal(backend.to_host(a.data), c.numpy())
    cpu_model = _mlp()
    cpu_model.load_state_dict(model.state_dict())                         # GPU values into a CPU model
    assert all(type(p.data) is np.ndarray for p in cpu_model.parameters())
    gpu_model = _mlp().to("cuda")
    gpu_model.load_state_dict(on_cpu.state_dict())                        # CPU values into a GPU model
    assert all(p.device == "cuda" for p in gpu_model.parameters())
    histories = {}
    for device in ("cpu", "cuda"):                                       # the GPU checkpoint resumes on both
        m = _mlp()
        h = rg.fit(m, "cross_entropy", rg.optim.Adam(m.parameters(), lr=0.01), (X, y), epochs=4, quiet=True,
                   device=device, resume=str(tmp_path / "ck.safetensors"),
                   checkpoint=str(tmp_path / f"ck-{device}.safetensors"))
        histories[device] = h["loss"]
    np.testing.assert_allclose(histories["cuda"], histories["cpu"], rtol=1e-10)


def test_estimators_train_on_the_gpu():
    pytest.importorskip("sklearn")
    from retrograd.sklearn import MLPClassifier, MLPRegressor
    X, y = _classes()
    a = MLPClassifier(hidden_layer_sizes=(6,), epochs=5).fit(X, y).predict_proba(X)
    b = MLPClassifier(hidden_layer_sizes=(6,), epochs=5, device="cuda").fit(X, y).predict_proba(X)
    assert type(b) is np.ndarray
    np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10)
    r = MLPRegressor(hidden_layer_sizes=(4,), epochs=3, optimizer="lm", device="cuda").fit(X, X[:, 0])
    assert type(r.predict(X)) is np.ndarray


@pytest.mark.parametrize("config", ["xor_classic.toml", "two_spirals_rprop.toml", "digits_sgd.toml",
                                    "two_spirals_cascor.toml"])
def test_a_shipped_example_config_trains_with_device_cuda(tmp_path, config):
    if config == "digits_sgd.toml":
        pytest.importorskip("sklearn")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "retrograd", "train", str(ROOT / "examples" / "configs" / config),
                           "--device", "cuda", "--epochs", "3", "--no-plots", "-q", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "model.safetensors").exists()
    assert 'device = "cuda"' in (tmp_path / "run" / "config.toml").read_text()
