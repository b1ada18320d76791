"""Checkpoints: resuming, in process or after SIGKILL, reproduces the uninterrupted run bit for bit."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import retrograd as rg
from retrograd.training import Checkpoint, EarlyStopping

from .conftest import blobs, make_mlp, weights

SCRIPT = Path(__file__).resolve().parent / "resume_script.py"


def run_script(ckpt, out, *flags):
    return subprocess.run([sys.executable, str(SCRIPT), str(ckpt), str(out), *flags],
                          capture_output=True, text=True, timeout=120, check=True)


def load_npz(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    run_script(tmp_path / "full.ckpt", tmp_path / "full.npz")
    ckpt = tmp_path / "killed.ckpt"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(ckpt), str(tmp_path / "never.npz"),
                             "--slow"], stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "epoch 5":
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.npz").exists()
    _, meta = rg.io.load_tensors(str(ckpt))
    assert meta["format"] == "retrograd-checkpoint"
    done = run_script(ckpt, tmp_path / "resumed.npz", "--resume")
    first_resumed = int(done.stdout.split()[1])
    assert 5 <= first_resumed <= 7, done.stdout     # it continued, it did not start over
    full, resumed = load_npz(tmp_path / "full.npz"), load_npz(tmp_path / "resumed.npz")
    assert len(full) == 4
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a, b)


def train(tmp_path, epochs, resume=None, extra=()):
    X, y = blobs(n=40)
    val = blobs(n=12, seed=4)
    rg.manual_seed(11)
    model = rg.nn.Sequential(make_mlp([4, 8, 3]), rg.nn.Dropout(0.3))
    opt = rg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = rg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    h = rg.fit(model, "cross_entropy", opt, (X, y), epochs=epochs, batch_size=8, seed=2,
               validation_data=val, scheduler=sched, metrics=["accuracy"],
               stop=EarlyStopping(patience=50), checkpoint=tmp_path / "run.ckpt", resume=resume,
               callbacks=list(extra), quiet=True)
    return model, h


def test_resume_in_process_equals_uninterrupted(tmp_path):
    full_model, full_h = train(tmp_path / "a" if (tmp_path / "a").mkdir() is None else None, 8)
    part = tmp_path / "b"
    part.mkdir()
    train(part, 3)
    # A fresh model (fresh init, fresh global generator): everything must come from the file.
    rg.manual_seed(12345)
    model, h = train(part, 8, resume=part / "run.ckpt")
    for a, b in zip(weights(full_model), weights(model)):
        np.testing.assert_array_equal(a, b)
    assert h["loss"] == full_h["loss"] and h["val_loss"] == full_h["val_loss"]
    assert h["lr"] == full_h["lr"] and h.epochs == 8


def test_checkpoint_holds_model_optimizer_schedule_rng_and_order(tmp_path):
    train(tmp_path, 2)
    arrays, meta = rg.io.load_tensors(str(tmp_path / "run.ckpt"))
    import json
    state = json.loads(meta["state"])
    assert state["trainer"]["epoch"] == 2
    assert "bit_generator" in state["trainer"]["order"]
    assert state["global_rng"]["bit_generator"] == "PCG64"
    assert len(state["trainer"]["history"]["values"]["loss"]) == 2
    assert any(k.startswith("model.") for k in arrays)
    assert any(k.startswith("optimizer.") for k in arrays)    # momentum buffers


def test_resume_with_other_callbacks_is_refused(tmp_path):
    train(tmp_path, 2)
    with pytest.raises(ValueError, match="same callbacks"):
        train(tmp_path, 4, resume=tmp_path / "run.ckpt", extra=[rg.training.Callback()])


def test_model_file_is_not_a_checkpoint(tmp_path):
    model = make_mlp([4, 5, 3])
    rg.io.save_tensors({"w": np.zeros(3, np.float32)}, str(tmp_path / "m.safetensors"), metadata={})
    with pytest.raises(ValueError, match="not a retrograd training checkpoint"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), blobs(n=10),
               resume=tmp_path / "m.safetensors", quiet=True)


def test_checkpoint_every_n_epochs(tmp_path):
    path = tmp_path / "c.ckpt"
    saved = []

    class Spy(Checkpoint):
        def save(self):
            saved.append(self.trainer.epoch)
            super().save()

    model = make_mlp([4, 5, 3])
    rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), blobs(n=10),
           epochs=5, callbacks=[Spy(path, every=2)], quiet=True)
    assert saved == [2, 4, 5]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    class Blow(rg.training.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                for g in self.trainer.optimizer.param_groups:
                    g["lr"] = 1e30

    X, y = blobs(n=20)
    model = make_mlp([4, 5, 3])
    h = rg.fit(model, "mse", rg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
               (X, np.eye(3, dtype=np.float32)[y] * 1e3), epochs=10, callbacks=[Blow()],
               checkpoint=tmp_path / "c.ckpt", quiet=True)
    assert "non-finite" in h.stop_reason
    arrays, meta = rg.io.load_tensors(str(tmp_path / "c.ckpt"))
    import json
    assert json.loads(meta["state"])["trainer"]["epoch"] == h.epochs
    assert all(np.isfinite(a).all() for a in arrays.values())
