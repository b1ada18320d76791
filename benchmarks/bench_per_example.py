"""Per-example gradients of a 784-256-10 MLP, batch 256, float32: retrograd against a loop and torch.func.

    python benchmarks/bench_per_example.py [--repeats 15] [--batch 256] [--threads 1]

Set-ups, run in turn (A, B, C, ... A, B, C, ...) so that the machine's drift
hits all of them alike; each figure is the median of ``--repeats`` runs:

* ``rg vectorised``: ``rg.per_example_grads`` (one forward, one sweep, fresh result arrays)
* ``rg vectorised, out=``: the same writing into reused buffers (what the DP optimizer does)
* ``rg loop``: one forward + backward per example (``method="loop"``)
* ``torch vmap(grad)``: ``torch.func.vmap(torch.func.grad(loss))`` over the batch
* ``torch loop``: one forward + backward per example in torch

Targets (issue #18): rg vectorised >= 3x faster than the rg loop, and faster than
torch's vmap(grad), in the same run. Prints one JSON line per set-up and the ratios.
"""
import argparse
import json
import os
import time

import numpy as np

import retrograd as rg


def build(batch, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    a1, a2 = np.sqrt(6 / (784 + 256)), np.sqrt(6 / (256 + 10))
    W1 = rng.uniform(-a1, a1, (784, 256)).astype(np.float32)
    W2 = rng.uniform(-a2, a2, (256, 10)).astype(np.float32)
    b1, b2 = np.zeros(256, np.float32), np.zeros(10, np.float32)
    return X, y, (W1, b1, W2, b2)


def retrograd_setups(X, y, weights):
    model = rg.nn.Sequential(rg.nn.Linear(784, 256), rg.nn.ReLU(), rg.nn.Linear(256, 10))
    for p, w in zip(model.parameters(), weights):
        p.data[...] = w
    buffers = [np.empty((len(X),) + p.shape, np.float32) for p in model.parameters()]
    return {
        "rg vectorised": lambda: rg.per_example_grads(model, "cross_entropy", X, y),
        "rg vectorised, out=": lambda: rg.per_example_grads(model, "cross_entropy", X, y, out=buffers),
        "rg loop": lambda: rg.per_example_grads(model, "cross_entropy", X, y, method="loop"),
    }, model


def torch_setups(X, y, weights):
    try:
        import torch
        from torch.func import functional_call, grad, vmap
    except ImportError:
        return {}, None
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(weights[0].T.copy()))
        model[2].weight.copy_(torch.from_numpy(weights[2].T.copy()))
        model[0].bias.zero_()
        model[2].bias.zero_()
    params = {k: v.detach() for k, v in model.named_parameters()}
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def loss_of(p, x, t):
        return torch.nn.functional.cross_entropy(functional_call(model, p, (x.unsqueeze(0),)), t.unsqueeze(0))
    per_example = vmap(grad(loss_of), in_dims=(None, 0, 0))

    def loop():
        out = {k: torch.empty((len(X),) + v.shape) for k, v in params.items()}
        for e in range(len(X)):
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[e:e + 1]), yt[e:e + 1]).backward()
            for k, v in model.named_parameters():
                out[k][e] = v.grad
        return out
    return {"torch vmap(grad)": lambda: per_example(params, Xt, yt), "torch loop": loop}, (torch, per_example,
                                                                                         params, Xt, yt)


def check_agreement(rg_model, X, y, torch_bits):
    """The two libraries' per-example gradients agree (float32 tolerance): the figures compare like with like."""
    if torch_bits is None:
        return None
    torch, per_example, params, Xt, yt = torch_bits
    ours = rg.per_example_grads(rg_model, "cross_entropy", X, y)
    ref = per_example(params, Xt, yt)
    worst = 0.0
    for g, (k, r) in zip(ours, ref.items()):
        r = r.numpy()
        r = r.transpose(0, 2, 1) if r.ndim == 3 else r
        worst = max(worst, float(np.abs(g - r).max() / (np.abs(r).max() + 1e-30)))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    a = ap.parse_args()
    X, y, weights = build(a.batch)
    setups, rg_model = retrograd_setups(X, y, weights)
    more, torch_bits = torch_setups(X, y, weights)
    if torch_bits is not None and a.threads:
        torch_bits[0].set_num_threads(a.threads)
    setups.update(more)
    worst = check_agreement(rg_model, X, y, torch_bits)
    for fn in setups.values():                                  # warm-up: allocations, lazy imports
        fn()
    times = {k: [] for k in setups}
    for _ in range(a.repeats):
        for k, fn in setups.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k, v in times.items():
        print(json.dumps({"setup": k, "median_ms": round(1e3 * med[k], 2),
                          "min_ms": round(1e3 * min(v), 2), "max_ms": round(1e3 * max(v), 2),
                          "repeats": a.repeats, "batch": a.batch}))
    ratios = {"loop / vectorised (target >= 3)": med["rg loop"] / med["rg vectorised"]}
    if "torch vmap(grad)" in med:
        ratios["torch vmap / rg vectorised (target > 1)"] = med["torch vmap(grad)"] / med["rg vectorised"]
        ratios["torch vmap / rg vectorised out="] = med["torch vmap(grad)"] / med["rg vectorised, out="]
        ratios["torch loop / torch vmap"] = med["torch loop"] / med["torch vmap(grad)"]
    print(json.dumps({"ratios": {k: round(v, 2) for k, v in ratios.items()},
                      "max_rel_diff_vs_torch": worst, "cpus": len(os.sched_getaffinity(0))}))


if __name__ == "__main__":
    main()
