"""End-to-end runs of the `retrograd` command through subprocess: train, evaluate, predict, plot, gradcheck."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import retrograd as rg

PNG = b"\x89PNG\r\n\x1a\n"


def cli(*args, cwd):
    """Run `python -m retrograd ARGS` in ``cwd``; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "retrograd", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def blobs(n, seed):
    """Three Gaussian blobs in 3-D with integer labels: an easy CSV classification problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0, 0, 0], [3, 0, 1], [0, 3, -1]], dtype=float)
    return centres[y] + rng.normal(scale=0.5, size=(n, 3)), y


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One CSV-trained run directory shared by the evaluate / predict / plot tests."""
    work = tmp_path_factory.mktemp("cli")
    X, y = blobs(150, 0)
    rg.data.save_csv(work / "train.csv", X, y, ["a", "b", "c"], target="label")
    Xt, yt = blobs(60, 1)
    rg.data.save_csv(work / "test.csv", Xt, yt, ["a", "b", "c"], target="label")
    (work / "run.toml").write_text(
        '[data]\nname = "csv"\npath = "train.csv"\ntest_path = "test.csv"\ntarget = "label"\n'
        '[model]\nhidden = [8]\n[optimizer]\nname = "sgd"\nlr = 0.1\nmomentum = 0.9\n'
        '[train]\nepochs = 40\nbatch_size = 16\n[output]\ndir = "run"\n')
    result = cli("train", "run.toml", "--quiet", cwd=work)
    assert result.returncode == 0, result.stderr
    return work, result


def test_version(tmp_path):
    result = cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"retrograd {rg.__version__}"


def test_train_writes_run_directory(trained):
    work, result = trained
    run = work / "run"
    for name in ("config.toml", "model.safetensors", "history.csv", "run.json", "scaler.safetensors",
                 "history.png", "confusion.png"):
        assert (run / name).exists(), name
    info = json.loads((run / "run.json").read_text())
    assert info["task"] == "classification" and info["n_inputs"] == 3 and info["n_outputs"] == 3
    assert info["test"]["accuracy"] >= 0.95 and info["epochs"] == 40
    rows = list(csv.reader(open(run / "history.csv")))
    assert rows[0][:2] == ["epoch", "loss"] and len(rows) == 41
    assert float(rows[-1][1]) < float(rows[1][1])
    assert "results in run/" in result.stdout and "accuracy" in result.stdout
    resolved = (run / "config.toml").read_text()
    assert 'name = "cross_entropy"' in resolved and "momentum = 0.9" in resolved


def test_evaluate_matches_training_report(trained):
    work, _ = trained
    info = json.loads((work / "run" / "run.json").read_text())
    result = cli("evaluate", "run", "--data", "test.csv", "--json", cwd=work)
    assert result.returncode == 0, result.stderr
    scored = json.loads(result.stdout)
    assert scored["n"] == 60
    assert scored["accuracy"] == pytest.approx(info["test"]["accuracy"])
    assert scored["loss"] == pytest.approx(info["test"]["loss"], rel=1e-5)
    default = cli("evaluate", "run", cwd=work)                   # the run's own test split
    assert default.returncode == 0 and "60 examples" in default.stdout


def test_predict_csv_in_csv_out(trained):
    work, _ = trained
    Xt, yt = blobs(60, 1)
    # columns in another order and no label: predict must pick them by name
    rg.data.save_csv(work / "features.csv", Xt[:, [2, 0, 1]], None, ["c", "a", "b"])
    result = cli("predict", "run", "features.csv", "-o", "pred.csv", cwd=work)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(open(work / "pred.csv")))
    assert rows[0] == ["prediction", "p_0", "p_1", "p_2"] and len(rows) == 61
    predicted = np.array([int(r[0]) for r in rows[1:]])
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-4)
    np.testing.assert_array_equal(predicted, probs.argmax(axis=1))
    assert np.mean(predicted == yt) >= 0.95
    stdout = cli("predict", "run", "test.csv", cwd=work)          # labelled file, to stdout
    assert stdout.returncode == 0 and stdout.stdout.splitlines()[1:] == [",".join(r) for r in rows[1:]]


def test_plot_redraws_figures(trained):
    work, _ = trained
    for name in ("history.png", "confusion.png"):
        (work / "run" / name).unlink()
    result = cli("plot", "run", cwd=work)
    assert result.returncode == 0, result.stderr
    for name in ("history.png", "confusion.png", "lr.png"):
        assert (work / "run" / name).read_bytes()[:8] == PNG


def test_gradcheck_passes_on_config_and_run_dir(trained):
    work, _ = trained
    result = cli("gradcheck", "run.toml", "--examples", "3", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "gradcheck passed" in result.stdout and "3-8-3" in result.stdout
    second = cli("gradcheck", "--data", "xor", "--hidden", "2", "--order", "2", cwd=work)
    assert second.returncode == 0, second.stderr


# (files to write, arguments, exit status, fragments expected on stderr)
ERRORS = [
    ({"bad.toml": '[model]\nhiden = [3]\n'}, ["train", "bad.toml"], 2,
     ["bad.toml, line 2", "unknown key 'hiden' in [model]", "allowed keys"]),
    ({}, ["train", "--mode", "fast"], 2, ["[train] mode = 'fast' is not allowed"]),
    ({}, ["train", "--set", "optimizer.lr"], 2, ["--set 'optimizer.lr': use SECTION.KEY=VALUE"]),
    ({"bad.csv": "a,b,label\n1,2,0\n1,oops,1\n"}, ["train", "--data", "csv", "--path", "bad.csv", "--target", "label"], 1,
     ["bad.csv, line 3, column 2 (\"b\")", "non-numeric cell 'oops'"]),
    ({"nan.csv": "a,b,label\n1,nan,0\n"}, ["train", "--data", "csv", "--path", "nan.csv", "--target", "label"], 1,
     ["nan.csv, line 2, column 2 (\"b\")", "not a finite number"]),
    ({"tiny.csv": "a,target\n1,-1\n2,1\n"}, ["train", "--data", "csv", "--path", "tiny.csv"], 1,
     ["tiny.csv: 2 rows are too few to hold out test_size = 0.2"]),
    ({"real.csv": "a,target\n1,0.5\n2,1\n3,2\n"}, ["train", "--data", "csv", "--path", "real.csv", "--task",
                                                      "classification"], 1,
     ["task = 'classification' needs class labels; the target holds non-integer values such as 0.5"]),
    ({}, ["train", "--data", "csv", "--path", "absent.csv"], 1, ["absent.csv: cannot open table"]),
    ({}, ["evaluate", "no_such_run"], 2, ["run directory no_such_run does not exist"]),
    ({}, ["frobnicate"], 2, ["invalid choice"]),
]


def test_bad_config_through_subprocess(tmp_path):
    files, args, status, fragments = ERRORS[0]
    (tmp_path / "bad.toml").write_text(files["bad.toml"])
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == status and result.stdout == ""
    assert "Traceback" not in result.stderr and all(f in result.stderr for f in fragments)


@pytest.mark.parametrize("files,args,status,fragments", ERRORS, ids=[" ".join(e[1][:2]) for e in ERRORS])
def test_errors_exit_codes_and_messages(tmp_path, monkeypatch, capsys, files, args, status, fragments):
    """The same entry point in process (cheaper than a subprocess per case)."""
    from retrograd.cli import main
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    try:
        code = main(args)
    except SystemExit as exc:          # argparse usage errors exit by themselves
        code = exc.code
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_evaluate_rejects_data_that_do_not_fit_the_model(trained):
    work, _ = trained
    (work / "wide.csv").write_text("p,q,r,s,label\n1,2,3,4,0\n")
    result = cli("evaluate", "run", "--data", "wide.csv", cwd=work)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "wide.csv: columns ['p', 'q', 'r', 's'] do not match the model's features ['a', 'b', 'c']" in result.stderr
    (work / "labels.csv").write_text("a,b,c,label\n1,2,3,0\n1,2,3,7\n")
    result = cli("evaluate", "run", "--data", "labels.csv", cwd=work)
    assert result.returncode == 1
    assert "labels.csv: labels [7] are not among the model's classes (0, 1, 2)" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_train_completes_with_good_accuracy(tmp_path):
    """`retrograd train` with no arguments: digits MLP (XOR without scikit-learn), under a minute."""
    result = cli("train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and f"results in {runs[0].relative_to(tmp_path)}/" in result.stdout
    info = json.loads((runs[0] / "run.json").read_text())
    assert info["test"]["accuracy"] >= (0.95 if info["dataset"] == "digits" else 1.0)
    assert "epoch" in result.stderr                                # progress went to stderr


def test_two_dimensional_binary_run_draws_boundaries(tmp_path):
    result = cli("train", "--data", "xor", "--out", "xor", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "xor" / "boundary.png").read_bytes()[:8] == PNG
    info = json.loads((tmp_path / "xor" / "run.json").read_text())
    assert info["task"] == "binary" and info["train"]["accuracy"] == 1.0 and info["train"]["loss"] < 0.05
    (tmp_path / "in.csv").write_text("x0,x1\n0,0\n0,1\n1,0\n1,1\n")
    pred = cli("predict", "xor", "in.csv", cwd=tmp_path)
    lines = pred.stdout.splitlines()
    assert lines[0] == "prediction,probability" and [l.split(",")[0] for l in lines[1:]] == ["0", "1", "1", "0"]
    assert cli("plot", "xor", cwd=tmp_path).returncode == 0
    assert (tmp_path / "xor" / "boundary_final.png").read_bytes()[:8] == PNG


def test_regression_csv_run(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(200, 1))
    rg.data.save_csv(tmp_path / "reg.csv", x, np.sin(x[:, 0]), ["x"], target="y")
    result = cli("train", "--data", "csv", "--path", "reg.csv", "--target", "y", "--epochs", "150", "--lr", "0.01",
                 "--out", "reg", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads((tmp_path / "reg" / "run.json").read_text())
    assert info["task"] == "regression" and info["loss"] == "mse" and info["test"]["rmse"] < 0.15
    for name in ("regression.png", "errors.png"):
        assert (tmp_path / "reg" / name).read_bytes()[:8] == PNG
    pred = cli("predict", "reg", "reg.csv", cwd=tmp_path)
    values = np.array([float(v) for v in pred.stdout.splitlines()[1:]])
    assert pred.stdout.startswith("prediction\n") and np.sqrt(np.mean((values - np.sin(x[:, 0])) ** 2)) < 0.15


def test_default_train_without_sklearn_is_xor(tmp_path):
    """With scikit-learn unimportable, the embedded default falls back to XOR."""
    fake = tmp_path / "fake"
    (fake / "sklearn").mkdir(parents=True)
    (fake / "sklearn" / "__init__.py").write_text("raise ImportError('scikit-learn hidden by the test')\n")
    import os
    env = dict(os.environ, PYTHONPATH=str(fake) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-m", "retrograd", "train", "-q", "--no-plots"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("retrograd train: xor")
    run = next((tmp_path / "runs").iterdir())
    info = json.loads((run / "run.json").read_text())
    assert info["dataset"] == "xor" and info["train"]["accuracy"] == 1.0
