"""W4 lstm-bptt (WORKLOADS.md): retrograd's LSTM against PyTorch eager, in the same process.

    python benchmarks/bench_w4_lstm.py [--repeats 3] [--no-torch]

Prints one JSON line per framework (the fields of ../shared/bench/peers),
then a summary line with ``speedup_vs_torch`` (our steps/s over torch's).
Timing covers the 200 training steps only; the warm-up is 3 steps. The
repeats of the two frameworks alternate, so load from other jobs on the
shared machine falls on both alike.
"""
import argparse
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
from interleave import interleave  # noqa: E402 - repeats in turn, shared by W2, W4, W5


def make_adam(params, lr):
    return rg.optim.Adam(params, lr=lr), "rg.optim.Adam"


class Net(rg.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = rg.nn.LSTM(C.W4_IN, C.W4_H)
        self.head = rg.nn.Linear(C.W4_H, C.W4_C)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def ours():
    X, y = C.w4_data()
    model = Net()
    which = []

    def train(n):
        Wih, Whh, bih, bhh, Wo, bo = C.w4_init()
        model.load_state_dict({"lstm.weight_ih_l0": Wih, "lstm.weight_hh_l0": Whh,
                               "lstm.bias_ih_l0": bih, "lstm.bias_hh_l0": bhh,
                               "head.weight": np.ascontiguousarray(Wo.T), "head.bias": bo})
        opt, name = make_adam(model.parameters(), 1e-3)
        which[:] = [name]
        losses = np.empty(n)
        t0 = time.perf_counter()
        for s in range(n):
            opt.zero_grad()
            loss = rg.nn.functional.cross_entropy(model(rg.Tensor(X[s])), y[s])
            loss.backward()
            opt.step()
            losses[s] = loss.item()
        return time.perf_counter() - t0, losses

    warm, _ = train(3)

    def once():
        t, losses = train(C.W4_STEPS)
        return t, {"loss_last20": round(float(losses[-20:].mean()), 4)}
    def report(times, info):
        return C.emit("retrograd", "W4", times, steps_per_s=round(C.W4_STEPS / C.median(times), 2),
                  warmup_s=round(warm, 3), optimizer=which[0], **info)
    return once, report


def torch_eager():
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    X, y = C.w4_data()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    lstm, head = torch.nn.LSTM(C.W4_IN, C.W4_H), torch.nn.Linear(C.W4_H, C.W4_C)
    params = list(lstm.parameters()) + list(head.parameters())

    def train(n):
        with torch.no_grad():
            for p, v in zip(params, C.w4_init()):
                p.copy_(torch.from_numpy(v))
        opt = torch.optim.Adam(params, lr=1e-3)
        losses = torch.empty(n)
        t0 = time.perf_counter()
        for s in range(n):
            opt.zero_grad()
            out, _ = lstm(X_t[s])
            loss = F.cross_entropy(head(out[-1]), y_t[s])
            loss.backward()
            opt.step()
            losses[s] = loss.detach()
        return time.perf_counter() - t0, losses

    warm, _ = train(3)

    def once():
        t, losses = train(C.W4_STEPS)
        return t, {"loss_last20": round(float(losses[-20:].mean()), 4)}
    def report(times, info):
        return C.emit("torch", "W4", times, steps_per_s=round(C.W4_STEPS / C.median(times), 2),
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
    runners = [ours()] + ([] if a.no_torch else [torch_eager()])
    records = interleave(runners, C.REPEATS)
    mine = records[0]
    summary = {"workload": "W4", "summary": True, "steps_per_s": mine["steps_per_s"]}
    if not a.no_torch:
        peer = records[1]
        summary["torch_steps_per_s"] = peer["steps_per_s"]
        summary["speedup_vs_torch"] = round(mine["steps_per_s"] / peer["steps_per_s"], 2)
        summary["target"] = ">= 1.5"
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
