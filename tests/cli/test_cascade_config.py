"""`retrograd train` with [model] type = "cascade": the example config grows, saves, evaluates and predicts."""
import json
from pathlib import Path

import numpy as np
import pytest

import retrograd as rg
from retrograd.cli import main
from retrograd.nn.cascade import CascadeNetwork

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "two_spirals_cascor.toml"


def test_example_config_grows_a_network_that_solves_two_spirals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(CONFIG), "--out", "run", "--quiet", "--no-plots"]) == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["stop_reason"] == "solved" and info["train"]["accuracy"] == 1.0
    model = rg.load(tmp_path / "run" / "model.safetensors")
    assert isinstance(model, CascadeNetwork) and 12 <= model.n_hidden <= 19
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,bit_fail,n_hidden,score,time" and len(history) == info["epochs"] + 1
    assert main(["evaluate", "run", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["accuracy"] == 1.0
    X, y = rg.data.two_spirals()
    np.savetxt(tmp_path / "in.csv", X[:4], delimiter=",", header="x0,x1", comments="")
    assert main(["predict", "run", "in.csv"]) == 0
    predicted = [int(line.split(",")[0]) for line in capsys.readouterr().out.splitlines()[1:]]
    assert predicted == y[:4, 0].astype(int).tolist()


def test_cascade_regression_and_bad_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (80, 1))
    rg.data.save_csv(tmp_path / "curve.csv", X, np.sin(2 * X[:, 0]), ["x"], target="y")
    base = ('[data]\nname = "csv"\npath = "curve.csv"\ntarget = "y"\ntest_size = 0.0\n[model]\ntype = "cascade"\n'
            'dtype = "float64"\n[train]\nepochs = 4000\n')
    (tmp_path / "reg.toml").write_text(base + '[cascade]\nerror_index = 0.05\noutput_epsilon = 0.5\n')
    assert main(["train", "reg.toml", "--out", "reg", "--quiet", "--no-plots"]) == 0
    info = json.loads((tmp_path / "reg" / "run.json").read_text())
    assert info["task"] == "regression" and info["stop_reason"] == "solved"
    assert info["train"]["rmse"] <= 0.05 * np.sin(2 * X).std()
    capsys.readouterr()
    (tmp_path / "bad.toml").write_text(base + '[cascade]\ncandidate_activations = ["relu"]\n')
    assert main(["train", "bad.toml", "--quiet"]) == 2
    assert "[cascade] unknown hidden unit activation 'relu'" in capsys.readouterr().err
    (tmp_path / "bad2.toml").write_text(base + '[cascade]\ncandidate_patience = 0\n')
    assert main(["train", "bad2.toml", "--quiet"]) == 2
    assert "bad2.toml, line 12: [cascade] candidate_patience = 0 must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["gradcheck"])
def test_commands_that_need_the_architecture_up_front_say_why_not(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    assert main([command, str(CONFIG)]) == 2
    assert "grown by training" in capsys.readouterr().err
