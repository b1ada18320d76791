"""Damaged run directories: every subcommand that reads one gives a one-line error naming the file.

Exit status as docs/cli.md promises: 2 for a config file that cannot be used, 1 for the other
files (run.json, the model, the scaler, the history). The subcommands are found in the parser
(those whose positional argument is ``run``), so one added later is covered here too.
"""
import json
import shutil

import numpy as np
import pytest
from cli_helpers import labelled_blobs, write_csv

from retrograd.cli import build_parser

# the arguments a run-directory subcommand needs besides the directory itself
EXTRA_ARGS = {"predict": ["features.csv"]}


def run_dir_commands():
    """Subcommands whose first positional argument is a run directory."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(name for name, p in sub.choices.items()
                  if any(a.dest == "run" and not a.option_strings for a in p._actions))


def _json_edit(**changes):
    def edit(run):
        info = json.loads((run / "run.json").read_text())
        for key, value in changes.items():
            if value is ...:
                info.pop(key)
            else:
                info[key] = value
        (run / "run.json").write_text(json.dumps(info))
    return edit


def _write(name, data):
    def edit(run):
        (run / name).write_bytes(data) if isinstance(data, bytes) else (run / name).write_text(data)
    return edit


def _truncate(name, size):
    def edit(run):
        (run / name).write_bytes((run / name).read_bytes()[:size])
    return edit


def _replace_with_directory(name):
    def edit(run):
        (run / name).unlink()
        (run / name).mkdir()
    return edit


def _remove(name):
    return lambda run: (run / name).unlink()


def _config_line(old, new):
    def edit(run):
        text = (run / "config.toml").read_text()
        assert old in text
        (run / "config.toml").write_text(text.replace(old, new))
    return edit


def _other_scaler(run):
    from retrograd.io import save_tensors
    save_tensors({"mean": np.zeros(5), "std": np.ones(5)}, run / "scaler.safetensors", {"scaler": "Standardizer"})


# (case id, damage, exit status, fragments of the message, the subcommands that read the file: None = all)
CASES = [
    ("run.json-not-json", _write("run.json", '{"task": "classification",'), 1, ["run.json, line 1", "invalid JSON"], None),
    ("run.json-not-utf8", _write("run.json", b'{"task": "\xff\xfe"}'), 1, ["run.json", "not UTF-8"], None),
    ("run.json-a-list", _write("run.json", "[1, 2]"), 1, ["run.json", "expected a JSON object"], None),
    ("run.json-no-n_inputs", _json_edit(n_inputs=...), 1, ["run.json", "'n_inputs' must be a positive integer"], None),
    ("run.json-text-n_outputs", _json_edit(n_outputs="3"), 1, ["run.json", "'n_outputs' must be"], None),
    ("run.json-bad-task", _json_edit(task="ranking"), 1, ["run.json", "'task' must be classification"], None),
    ("run.json-classes", _json_edit(classes=["a", "b"]), 1, ["run.json", "'classes' must be 3 distinct labels"], None),
    ("run.json-missing", _remove("run.json"), 1, ["run.json is missing"], None),
    ("config-not-toml", _write("config.toml", "[data\nname = 1\n"), 2, ["config.toml", "invalid TOML"], None),
    ("config-not-utf8", _write("config.toml", b"[data]\nname = \"\xff\xfe\"\n"), 2, ["config.toml", "not UTF-8"], None),
    ("config-unknown-key", _config_line("[model]", "[model]\nhiden = 3"), 2,
     ["config.toml, line", "unknown key 'hiden'"], None),
    ("config-bad-activation", _config_line('activation = "tanh"', 'activation = "tanhh"'), 2,
     ["config.toml, line", "activation = 'tanhh' is unknown"], None),
    ("config-other-network", _config_line("hidden = [8]", "hidden = [9]"), 1,
     ["model.safetensors does not match the network"], None),
    ("model-truncated", _truncate("model.safetensors", 100), 1, ["model.safetensors: cannot read the model file"], None),
    ("model-garbage", _write("model.safetensors", b"\x00" * 7), 1, ["model.safetensors: cannot read the model file"],
     None),
    ("model-is-directory", _replace_with_directory("model.safetensors"), 1,
     ["model.safetensors: cannot read the model file"], None),
    ("model-missing", _remove("model.safetensors"), 1, ["model.safetensors is missing"], None),
    ("scaler-truncated", _truncate("scaler.safetensors", 40), 1, ["scaler.safetensors: cannot read the input scaler"],
     None),
    ("scaler-other-width", _other_scaler, 1, ["scaler.safetensors: the scaler's 'mean' has shape (5,)"], None),
    ("history-not-numbers", _write("history.csv", "epoch,loss\n1,abc\n"), 1,
     ["history.csv, line 2, column 2 ('loss'): 'abc' is not a number"], ["plot", "report"]),
    ("history-not-utf8", _write("history.csv", b"epoch,loss\n1,\xff\n"), 1, ["history.csv", "not UTF-8"],
     ["plot", "report"]),
]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One small CSV-trained run directory, copied and damaged by each case."""
    from retrograd.cli import main
    work = tmp_path_factory.mktemp("rundirs")
    X, labels = labelled_blobs(90, 0, labels=(0, 1, 2))
    write_csv(work / "train.csv", ["a", "b", "c", "label"], [[*x, k] for x, k in zip(X, labels)])
    write_csv(work / "features.csv", ["a", "b", "c"], X[:5].tolist())
    code = main(["train", "--data", "csv", "--path", str(work / "train.csv"), "--target", "label", "--hidden", "8",
                 "--epochs", "3", "--out", str(work / "good"), "-q", "--no-plots"])
    assert code == 0
    return work


def test_run_dir_commands_are_found():
    assert {"evaluate", "predict", "plot", "report"} <= set(run_dir_commands())


@pytest.mark.parametrize("command", run_dir_commands())
@pytest.mark.parametrize("case,damage,status,fragments,readers", CASES, ids=[c[0] for c in CASES])
def test_damaged_run_directory(good_run, retrograd_cli, tmp_path, command, case, damage, status, fragments, readers):
    if command == "plot":
        pytest.importorskip("matplotlib")
    shutil.copytree(good_run / "good", tmp_path / "run")
    shutil.copy(good_run / "features.csv", tmp_path / "features.csv")
    damage(tmp_path / "run")
    result = retrograd_cli(command, "run", *EXTRA_ARGS.get(command, []))
    if readers is not None and command not in readers:
        assert result.code == 0, result.err          # a damaged file this command does not need
        return
    assert result.code == status, result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith(f"retrograd {command}: ")
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_unexpected_errors_are_one_line(retrograd_cli, monkeypatch):
    """A bug (any exception the CLI does not expect) is still one line and exit status 1."""
    import retrograd.cli.demo as demo
    monkeypatch.setattr(demo, "run_demo", lambda **kw: {}["missing"])
    result = retrograd_cli("demo")
    assert result.code == 1 and result.err.strip().splitlines() == [
        "retrograd demo: internal error: KeyError: 'missing' (set RETROGRAD_DEBUG=1 for the traceback, "
        "and please report it)"]
