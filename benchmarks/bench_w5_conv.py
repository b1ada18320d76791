"""W5 conv-digits (WORKLOADS.md): retrograd's Conv2d/MaxPool2d against PyTorch eager, in the same process.

    python benchmarks/bench_w5_conv.py [--repeats 3] [--no-torch]

Prints one JSON line per framework (the fields of ../shared/bench/peers),
then a summary line per retrograd variant with ``speedup_vs_torch`` (torch's
s/epoch over ours) and both test accuracies (reference 0.9694). Variants:
``retrograd``, a hand-written loop like torch's (zero_grad, forward,
backward, step: the eager engine), and ``retrograd-fit``, the same training
through ``rg.fit`` (seed 1 gives the same shuffle), whose step is recorded
and replayed. Timing covers the 10 training
epochs only; the warm-up is 1 epoch. The repeats of the two frameworks
alternate, so load from other jobs on the shared machine falls on both alike.
"""
import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

_REPO = Path(__file__).resolve().parents[1]
# CI and this machine keep the peers beside the repository; a copy may also sit inside it
PEERS = next((p for p in (_REPO.parent / "shared" / "bench" / "peers", _REPO / "shared" / "bench" / "peers")
              if (p / "common.py").exists()), _REPO.parent / "shared" / "bench" / "peers")
sys.path.insert(0, str(PEERS))
import common as C  # noqa: E402 - the shared data, init and shuffle rules

import retrograd as rg  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_w4_lstm import make_adam  # noqa: E402 - shared with W4
from interleave import interleave  # noqa: E402 - repeats in turn, shared by W2, W4, W5


def build():
    nn = rg.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def _retrograd_runner(label, train_with):
    """(once, report) for a retrograd variant: ``train_with(model, opt, Xtr, ytr, epochs)`` runs the epochs."""
    Xtr, Xte, ytr, yte = C.digits_split()
    Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    model = build()
    for epochs in (1, C.W5_EPOCHS):
        _epoch_batches(len(Xtr), epochs)

    def train(epochs):
        w1, b1, w2, b2, wf, bf = C.w5_init()
        model.load_state_dict({"0.weight": w1, "0.bias": b1, "2.weight": w2, "2.bias": b2,
                               "6.weight": np.ascontiguousarray(wf.T), "6.bias": bf})
        opt, _ = make_adam(model.parameters(), C.W5_LR)
        t0 = time.perf_counter()
        train_with(model, opt, Xtr, ytr, epochs)
        return time.perf_counter() - t0

    warm = train(1)

    def once():
        t = train(C.W5_EPOCHS)
        with rg.no_grad():
            acc = float(np.mean(model(rg.Tensor(Xte)).data.argmax(1) == yte))
        return t, {"test_acc": round(acc, 4)}

    def report(times, info):
        return C.emit(label, "W5", times, s_per_epoch=round(C.median(times) / C.W5_EPOCHS, 6),
                      warmup_s=round(warm, 3), optimizer="rg.optim.Adam", **info)
    return once, report


@functools.lru_cache(maxsize=None)
def _epoch_batches(n, epochs):
    """The shared per-epoch batches, drawn once outside the timed region (as the torch runner does)."""
    return [C.batches(p, C.W5_BATCH) for p in C.epoch_permutations(n, epochs, C.W5_SHUFFLE_SEED)]


def _hand_loop(model, opt, Xtr, ytr, epochs):
    """The loop PyTorch runs: zero_grad, forward, loss, backward, step, on the shared batches."""
    for batches in _epoch_batches(len(Xtr), epochs):
        for idx in batches:
            opt.zero_grad()
            loss = rg.nn.functional.cross_entropy(model(rg.Tensor(Xtr[idx])), ytr[idx])
            loss.backward()
            opt.step()


def _through_fit(model, opt, Xtr, ytr, epochs):
    """The same training through rg.fit: seed 1 draws the same per-epoch permutations."""
    rg.fit(model, "cross_entropy", opt, (Xtr, ytr), epochs=epochs, batch_size=C.W5_BATCH,
           seed=C.W5_SHUFFLE_SEED, quiet=True)


def ours():
    return _retrograd_runner("retrograd", _hand_loop)


def ours_fit():
    return _retrograd_runner("retrograd-fit", _through_fit)


def torch_eager():
    import torch
    import torch.nn as tnn
    import torch.nn.functional as F
    torch.set_num_threads(2)
    Xtr, Xte, ytr, yte = C.digits_split()
    Xtr_t = torch.from_numpy(Xtr.reshape(-1, 1, 8, 8).copy())
    Xte_t = torch.from_numpy(Xte.reshape(-1, 1, 8, 8).copy())
    ytr_t = torch.from_numpy(ytr)
    perms = C.epoch_permutations(len(Xtr), C.W5_EPOCHS, C.W5_SHUFFLE_SEED)
    epochs = [[torch.from_numpy(i) for i in C.batches(p, C.W5_BATCH)] for p in perms]
    model = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(),
                           tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(),
                           tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(32 * 4 * 4, 10))

    def train(eps):
        with torch.no_grad():
            for p, v in zip(model.parameters(), C.w5_init()):
                p.copy_(torch.from_numpy(v))
        opt = torch.optim.Adam(model.parameters(), lr=C.W5_LR)
        t0 = time.perf_counter()
        for ep in eps:
            for idx in ep:
                opt.zero_grad()
                loss = F.cross_entropy(model(Xtr_t[idx]), ytr_t[idx])
                loss.backward()
                opt.step()
        return time.perf_counter() - t0

    warm = train(epochs[:1])

    def once():
        t = train(epochs)
        with torch.no_grad():
            acc = (model(Xte_t).argmax(1).numpy() == yte).mean()
        return t, {"test_acc": round(float(acc), 4)}
    def report(times, info):
        return C.emit("torch", "W5", times, s_per_epoch=round(C.median(times) / C.W5_EPOCHS, 6),
                  warmup_s=round(warm, 3), threads=torch.get_num_threads(), torch=torch.__version__, **info)
    return once, report


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (default 3)")
    p.add_argument("--no-torch", action="store_true", help="run retrograd only")
    a = p.parse_args()
    if a.repeats:
        C.REPEATS = a.repeats
        os.environ["BENCH_REPEATS"] = str(a.repeats)
    runners = [ours(), ours_fit()] + ([] if a.no_torch else [torch_eager()])
    records = interleave(runners, C.REPEATS)
    for mine in records[:2]:
        summary = {"workload": "W5", "summary": mine["framework"], "s_per_epoch": mine["s_per_epoch"],
                   "test_acc": mine["test_acc"]}
        if not a.no_torch:
            peer = records[2]
            summary["torch_s_per_epoch"] = peer["s_per_epoch"]
            summary["torch_test_acc"] = peer["test_acc"]
            summary["speedup_vs_torch"] = round(peer["s_per_epoch"] / mine["s_per_epoch"], 2)
            summary["target"] = ">= 1.0 and test_acc 0.9694"
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
