"""Engine benchmarks: per-op overhead of a small forward+backward, and W1 (xor-online) beside PyTorch eager.

Prints one JSON line per measurement. Run: ``python benchmarks/bench_engine.py``.
"""
import json
import os
import sys
import time

import numpy as np

import retrograd as rg

sys.path.insert(0, os.path.dirname(__file__))
from peers_path import common  # noqa: E402

C = common()
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def emit(**fields):
    print(json.dumps(fields), flush=True)
    return fields


# ------------------------------------------------------------------ per-op overhead

CHAIN = 20  # ops in the forward chain; the backward runs as many VJPs


def rg_chain(x):
    y = x
    for _ in range(CHAIN // 2):
        y = rg.tanh(y) * 1.01
    return y.sum()


def time_chain(step, n=2000):
    best = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        best.append((time.perf_counter() - t0) / n)
    return float(np.median(best))


def per_op_overhead():
    x = rg.tensor(np.ones((2, 2)), requires_grad=True)

    def ours():
        rg_chain(x).backward()
        x.grad = None
    ours_s = time_chain(ours)
    fields = {"workload": "per-op-overhead", "framework": "retrograd",
              "us_per_op_fwd_bwd": round(ours_s / (CHAIN + 1) * 1e6, 3)}
    try:
        import torch
        torch.set_num_threads(2)
        tx = torch.ones((2, 2), dtype=torch.float64, requires_grad=True)

        def theirs():
            y = tx
            for _ in range(CHAIN // 2):
                y = torch.tanh(y) * 1.01
            y.sum().backward()
            tx.grad = None
        torch_s = time_chain(theirs)
        fields["torch_us_per_op_fwd_bwd"] = round(torch_s / (CHAIN + 1) * 1e6, 3)
        fields["speedup_vs_torch"] = round(torch_s / ours_s, 2)
    except ImportError:
        pass
    emit(**fields)


# ------------------------------------------------------------------ W1 xor-online


def w1_train(params, epochs):
    """2-2-1 sigmoid net, 0.5*SSE on one example per step, SGD lr 0.5 momentum 0.9 (heavy ball)."""
    W1, b1, W2, b2 = params
    X, T = C.w1_data()
    xs = [rg.tensor(X[i:i + 1]) for i in range(4)]
    ts = [T[i:i + 1] for i in range(4)]
    velocity = [np.zeros_like(p.data) for p in params]
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in range(4):
            y = rg.sigmoid(rg.sigmoid(xs[i] @ W1 + b1) @ W2 + b2)
            error = y - ts[i]
            loss = 0.5 * (error * error).sum()
            loss.backward()
            for p, v in zip(params, velocity):
                v *= C.W1_MOM
                v += p.grad.data
                p.data -= C.W1_LR * v
                p.grad = None
    return time.perf_counter() - t0


def w1_once(epochs=C.W1_EPOCHS):
    params = [rg.tensor(p, requires_grad=True) for p in C.w1_init()]
    seconds = w1_train(params, epochs)
    W1, b1, W2, b2 = params
    with rg.no_grad():
        info = C.w1_eval(lambda A: rg.sigmoid(rg.sigmoid(rg.tensor(A) @ W1 + b1) @ W2 + b2).numpy())
    return seconds, info


def torch_w1_once(epochs=C.W1_EPOCHS):
    import torch
    import torch.nn as nn
    X, T = C.w1_data()
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid()).double()
    xs = [torch.from_numpy(X[i:i + 1].copy()) for i in range(4)]
    ts = [torch.from_numpy(T[i:i + 1].copy()) for i in range(4)]
    W1, b1, W2, b2 = C.w1_init()
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(W1.T.copy())); model[0].bias.copy_(torch.from_numpy(b1))
        model[2].weight.copy_(torch.from_numpy(W2.T.copy())); model[2].bias.copy_(torch.from_numpy(b2))
    opt = torch.optim.SGD(model.parameters(), lr=C.W1_LR, momentum=C.W1_MOM)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in range(4):
            opt.zero_grad()
            loss = 0.5 * ((model(xs[i]) - ts[i]) ** 2).sum()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def w1():
    w1_once(50)  # warm-up
    runs = [w1_once() for _ in range(REPEATS)]
    seconds = float(np.median([s for s, _ in runs]))
    info = runs[-1][1]
    steps = 4 * C.W1_EPOCHS
    fields = {"workload": "W1", "framework": "retrograd", "steps_per_s": round(steps / seconds, 1),
              "final_loss": info["final_loss"], "all_correct": info["all_correct"],
              "final_loss_error_vs_reference": abs(info["final_loss"] - 2.651907455180510e-4)}
    try:
        import torch
        torch.set_num_threads(2)
        torch_w1_once(50)
        torch_s = float(np.median([torch_w1_once() for _ in range(REPEATS)]))
        fields["torch_steps_per_s"] = round(steps / torch_s, 1)
        fields["speedup_vs_torch"] = round(torch_s / seconds, 2)
    except ImportError:
        pass
    emit(**fields)


if __name__ == "__main__":
    per_op_overhead()
    w1()
