"""Callback events, the CSV log, learning-rate schedules and the progress display."""
import csv
import io

import numpy as np
import pytest

import retrograd as rg
from retrograd.training import Callback, CSVLogger, LRScheduler, ProgressBar

from .conftest import blobs, make_mlp


class Events(Callback):
    def __init__(self):
        self.seen = []

    def on_train_begin(self, logs=None):
        self.seen.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(f"epoch_begin {epoch}")

    def on_batch_begin(self, batch, logs=None):
        self.seen.append(f"batch_begin {batch}")

    def on_batch_end(self, batch, logs=None):
        self.seen.append(f"batch_end {batch} {logs['size']}")

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(f"epoch_end {epoch}")

    def on_train_end(self, logs=None):
        self.seen.append("train_end")


def fit(epochs=2, **kw):
    X, y = blobs(n=10)
    model = make_mlp([4, 5, 3])
    kw.setdefault("quiet", True)
    opt = kw.pop("optimizer", None) or rg.optim.SGD(model.parameters(), lr=0.1)
    return rg.fit(model, "cross_entropy", opt, (X, y), epochs=epochs, batch_size=4, **kw)


def test_event_order():
    ev = Events()
    fit(callbacks=[ev])
    batches = ["batch_begin 0", "batch_end 0 4", "batch_begin 1", "batch_end 1 4",
               "batch_begin 2", "batch_end 2 2"]
    assert ev.seen == (["train_begin", "epoch_begin 0"] + batches + ["epoch_end 0", "epoch_begin 1"]
                       + batches + ["epoch_end 1", "train_end"])


def test_batch_events_only_built_when_listened_to():
    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.wants = self.trainer.callbacks.wants_batch_events

    cb = EpochOnly()
    fit(callbacks=[cb])
    assert cb.wants is False


def test_history_values():
    h = fit(epochs=3, metrics=["accuracy", "mse"])
    assert h.epochs == 3 and len(h["time"]) == 3
    assert sorted(h) == ["accuracy", "loss", "lr", "mse", "time"]
    assert all(0.0 <= a <= 1.0 for a in h["accuracy"])
    assert h["time"] == sorted(h["time"])


def test_csv_logger_rows_match_history(tmp_path):
    path = tmp_path / "log.csv"
    h = fit(epochs=3, callbacks=[CSVLogger(path)], validation_data=blobs(n=8, seed=3))
    rows = list(csv.DictReader(open(path)))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["loss"]) for r in rows] == h["loss"]
    assert [float(r["val_loss"]) for r in rows] == h["val_loss"]
    assert not list(tmp_path.glob(".*tmp"))


def test_scheduler_callback_steps_per_epoch():
    X, y = blobs(n=10)
    model = make_mlp([4, 5, 3])
    opt = rg.optim.SGD(model.parameters(), lr=1.0)
    sched = rg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = rg.fit(model, "cross_entropy", opt, (X, y), epochs=3, scheduler=sched, quiet=True)
    assert h["lr"] == [1.0, 0.5, 0.25]


def test_scheduler_callback_per_batch():
    X, y = blobs(n=10)
    model = make_mlp([4, 5, 3])
    opt = rg.optim.SGD(model.parameters(), lr=1.0)
    sched = rg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = rg.fit(model, "cross_entropy", opt, (X, y), epochs=2, batch_size=4,
               scheduler=LRScheduler(sched, per="batch"), quiet=True)
    assert h["lr"] == [1.0, 0.5 ** 3]


def test_progress_plain_lines():
    out = io.StringIO()
    h = fit(epochs=3, progress=ProgressBar(stream=out), quiet=False, metrics=["accuracy"],
            validation_data=blobs(n=8, seed=3))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert line.startswith(f"epoch {i + 1}/3 loss {h['loss'][i]:.4g} ")
        assert f"val_loss {h['val_loss'][i]:.4g}" in line
        assert f"accuracy {h['accuracy'][i]:.4g}" in line and "lr 0.1" in line and " eta " in line


def test_progress_reports_the_stop_reason():
    out = io.StringIO()
    fit(epochs=10, progress=ProgressBar(stream=out), quiet=False, stop={"epochs": 2})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("epoch  2/10 loss")
    out = io.StringIO()
    fit(epochs=10, progress=ProgressBar(stream=out), quiet=False, stop={"goal": 1e9})
    assert out.getvalue().splitlines()[-1].startswith("stopped: error goal")


def test_progress_every_n_epochs():
    out = io.StringIO()
    fit(epochs=5, progress=ProgressBar(stream=out, every=2), quiet=False)
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["2/5", "4/5", "5/5"]


def test_quiet_prints_nothing(capsys):
    fit(epochs=2, quiet=True)
    fit(epochs=2, quiet=False)      # default stream: stderr, plain under pytest
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("epoch ") == 2


def test_tqdm_style_writes_a_bar():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    fit(epochs=2, progress=ProgressBar(stream=out, style="tqdm"), quiet=False)
    assert "2/2" in out.getvalue() and "loss" in out.getvalue()


def test_unknown_metric_lists_known():
    with pytest.raises(ValueError, match="known"):
        fit(metrics=["acuracy"])


def test_metrics_values():
    from retrograd.training.metrics import accuracy, bit_fail, mae, mse
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(out, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(np.array([0.2, 0.7]), np.array([0.0, 1.0])) == 1.0
    assert accuracy(np.array([-1.0, 2.0]), np.array([0, 1]), threshold=0.0) == 1.0
    assert mse(np.array([1.0, 3.0]), np.array([0.0, 1.0])) == 2.5
    assert mae(np.array([1.0, 3.0]), np.array([0.0, 1.0])) == 1.5
    assert bit_fail(out, np.array([1, 0, 0]), limit=0.35) == 2
