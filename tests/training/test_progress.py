"""Progress display: a bounded number of plain lines without a terminal, a bar on any terminal."""
import io
import os
import pty

import numpy as np
import pytest

import retrograd as rg
from retrograd.training.progress import ProgressBar


def tiny_fit(epochs, progress):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    model = rg.nn.Sequential(rg.nn.Linear(2, 2))
    return rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.01), (X, y), epochs=epochs,
                  mode="batch", progress=progress)


@pytest.mark.parametrize("epochs,lines", [(1000, 50), (120, 40), (49, 49), (3, 3)])
def test_plain_lines_are_bounded_by_default(epochs, lines):
    out = io.StringIO()
    tiny_fit(epochs, ProgressBar(stream=out))
    printed = out.getvalue().splitlines()
    assert len(printed) == lines and printed[-1].startswith(f"epoch {epochs}/{epochs} ")


def test_every_must_be_a_positive_count():
    for bad in (0, -3, 2.5, "10"):
        with pytest.raises(ValueError, match="every"):
            ProgressBar(every=bad)


def test_a_terminal_reporting_zero_columns_still_gets_a_bar():
    """A pseudo-terminal whose size was never set reports 0 columns; tqdm then drew nothing."""
    pytest.importorskip("tqdm")
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    try:
        assert stream.isatty() and os.get_terminal_size(slave).columns == 0
        tiny_fit(5, ProgressBar(stream=stream))
        stream.flush()
        os.set_blocking(master, False)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            shown += chunk
    finally:
        stream.close()
        os.close(master)
    text = shown.decode(errors="replace")
    assert "5/5" in text and "100%" in text and "loss" in text


def test_cli_log_every(retrograd_cli_plain):
    r = retrograd_cli_plain("train", "--data", "xor", "--epochs", "40", "--set", "stop.goal=0.0", "--log-every", "10",
                            "--no-plots", "--out", "run")
    assert r.code == 0, r.err
    assert [line.split()[1] for line in r.err.splitlines() if line.startswith("epoch")] == [
        "10/40", "20/40", "30/40", "40/40"]


@pytest.fixture
def retrograd_cli_plain(capsys, monkeypatch, tmp_path):
    from retrograd.cli import main
    monkeypatch.chdir(tmp_path)

    def run(*args):
        code = main(list(args))
        captured = capsys.readouterr()
        return type("Result", (), {"code": code, "out": captured.out, "err": captured.err})
    return run
