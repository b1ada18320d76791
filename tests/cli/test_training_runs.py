"""What `retrograd train` reports: one loss quantity everywhere, and a failed exit on divergence."""
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import diabetes_like, labelled_blobs, write_csv

import retrograd as rg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


def _history(path):
    rows = list(csv.DictReader(open(path)))
    return {k: [float(r[k]) for r in rows if r[k] != ""] for k in rows[0]}


def _last_progress_loss(err):
    return float(re.findall(r"^epoch\s+\d+/\d+ loss (\S+)", err, re.M)[-1])


@pytest.mark.parametrize("args", [
    [str(EXAMPLES / "xor_classic.toml")],                     # half_sse (a sum), online mode
    [str(EXAMPLES / "xor_classic.toml"), "--mode", "batch", "--lr", "0.5", "--epochs", "300"],
    ["--data", "csv", "--path", "blobs.csv", "--target", "label", "--epochs", "7", "--batch-size", "16"],
], ids=["xor-classic-online", "xor-classic-batch", "csv-minibatch"])
def test_one_loss_everywhere(retrograd_cli, tmp_path, args):
    """The issue's XOR showed 0.0309 in history.csv and 0.1114 in the summary and run.json."""
    X, labels = labelled_blobs(80, 0, labels=(0, 1, 2))
    write_csv(tmp_path / "blobs.csv", ["a", "b", "c", "label"], [[*x, k] for x, k in zip(X, labels)])
    r = retrograd_cli("train", *args, "--out", "run", "--no-plots", "--log-every", "1")
    assert r.code == 0, r.err
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    history = _history(tmp_path / "run" / "history.csv")
    final = info["train"]["loss"]
    assert history["loss"][-1] == pytest.approx(final, rel=1e-6)                 # history.csv = run.json
    assert _last_progress_loss(r.err) == pytest.approx(final, rel=1e-3)          # the progress line (4 digits)
    assert f"train loss {final:.4g}" in r.out                                    # the summary
    evaluated = json.loads(retrograd_cli("evaluate", "run", "--json").out)          # evaluate: the test split
    assert evaluated["loss"] == pytest.approx(info["test"]["loss"], rel=1e-6)
    if info["dataset"] == "xor":                              # the classics are judged on the training set
        assert evaluated["loss"] == pytest.approx(final, rel=1e-6)


def test_divergence_keeps_last_good_weights_and_fails(retrograd_cli, tmp_path):
    """SGD at lr 1e3 on a regression: the loss overflows; the run is kept and the exit status is 1."""
    X, y = diabetes_like(200)
    write_csv(tmp_path / "d.csv", [f"f{j}" for j in range(6)] + ["target"], [[*x, t] for x, t in zip(X, y)])
    r = retrograd_cli("train", "--data", "csv", "--path", "d.csv", "--optimizer", "sgd", "--lr", "1e3",
                      "--out", "run", "-q", "--no-plots")
    assert r.code == 1, r.err
    message = r.err.strip().splitlines()[-1]
    assert message.startswith("retrograd train: FAILED: ") and "training diverged" in message
    assert "RuntimeWarning" not in r.err
    assert "the weights were restored" in message and "run/ holds those weights" in message
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["diverged"] is True and "diverged" in info["stop_reason"]
    assert np.isfinite(info["train"]["loss"]) and np.isfinite(info["test"]["loss"])     # good weights: finite loss
    model = rg.load(tmp_path / "run" / "model.safetensors")
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    again = retrograd_cli("evaluate", "run", "--json")
    assert again.code == 0 and np.isfinite(json.loads(again.out)["rmse"])
