"""A training run with a checkpoint every epoch, for the kill-and-resume test (run as a script).

    python resume_script.py CHECKPOINT OUT.npz [--resume] [--slow]

Uses dropout (the global generator), Adam, a StepLR schedule, early stopping
state and a seeded shuffle, so every kind of saved state matters.
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retrograd as rg  # noqa: E402

EPOCHS = 12


class Beat(rg.training.Callback):
    """Announce each finished epoch (after its checkpoint) and, with --slow, take time to be killed."""

    def __init__(self, slow):
        self.slow = slow

    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1}", flush=True)
        if self.slow:
            time.sleep(0.15)


def build():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1)
    rg.manual_seed(7)
    model = rg.nn.Sequential(rg.nn.Linear(5, 16), rg.nn.Tanh(), rg.nn.Dropout(0.2),
                             rg.nn.Linear(16, 3))
    opt = rg.optim.Adam(model.parameters(), lr=0.01)
    sched = rg.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    return model, opt, sched, (X[:100], y[:100]), (X[100:], y[100:])


def main():
    ckpt, out = sys.argv[1], sys.argv[2]
    resume = "--resume" in sys.argv
    model, opt, sched, train, val = build()
    # Checkpoints run after every other callback, so "epoch N" means checkpoint N-1 or N is on disk.
    rg.fit(model, "cross_entropy", opt, train, epochs=EPOCHS, batch_size=16, seed=3,
           validation_data=val, scheduler=sched, stop=rg.training.EarlyStopping(patience=100),
           callbacks=[rg.training.Checkpoint(ckpt), Beat("--slow" in sys.argv)], quiet=True,
           resume=ckpt if resume else None)
    np.savez(out, *[p.data for p in model.parameters()])


if __name__ == "__main__":
    main()
