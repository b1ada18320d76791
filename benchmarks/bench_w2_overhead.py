"""The framework's own cost per training step: W2's loop with arithmetic too small to matter.

    python benchmarks/bench_w2_overhead.py [--runs 15]

A 2-2-2 tanh MLP on 2,880 random points, batches of 64, SGD with momentum,
through ``rg.fit`` (the replayed step), and the same step as a hand-written
NumPy loop making the same NumPy calls. With 2x2 weights the arithmetic is
nil, so the difference is what the trainer, the compiled step, the replay,
the ops' Python and the optimizer add per step: the part of W2's ~180 us
step that is not NumPy's. Prints one JSON line with the minimum over
``--runs`` runs of 10 epochs each (the minimum is the least disturbed on a
shared machine).
"""
import argparse
import json
import time

import numpy as np

import retrograd as rg
from retrograd.training.threads import blas_threads

N, BATCH, EPOCHS = 64 * 45, 64, 10


def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, 2)).astype(np.float32), rng.integers(0, 2, N)


def through_fit(X, y):
    model = rg.nn.Sequential(rg.nn.Linear(2, 2), rg.nn.Tanh(), rg.nn.Linear(2, 2))
    opt = rg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rg.fit(model, "cross_entropy", opt, (X, y), epochs=1, batch_size=BATCH, quiet=True)  # trace, check

    def once():
        t0 = time.perf_counter()
        rg.fit(model, "cross_entropy", opt, (X, y), epochs=EPOCHS, batch_size=BATCH, seed=1, quiet=True)
        return time.perf_counter() - t0
    return once


def by_hand(X, y):
    rng = np.random.default_rng(1)
    params = [rng.uniform(-1, 1, s).astype(np.float32) for s in ((2, 2), (2,), (2, 2), (2,))]
    velocity = [np.zeros_like(p) for p in params]
    rows = np.arange(BATCH)

    def once():
        t0 = time.perf_counter()
        with blas_threads(1, BATCH, 12):
            for epoch in range(EPOCHS):
                perm = np.random.default_rng(epoch).permutation(N)
                Xp, yp = X[perm], y[perm]
                for s in range(0, N, BATCH):
                    x, t = Xp[s:s + BATCH], yp[s:s + BATCH]
                    w1, b1, w2, b2 = params
                    a = x @ w1
                    a += b1
                    h = np.tanh(a)
                    z = h @ w2
                    z += b2
                    z -= z.max(1, keepdims=True)
                    picked = z[rows, t]
                    p = np.exp(z, out=z)
                    total = p.sum(1, keepdims=True)
                    p /= total
                    loss = (np.log(total).sum() - picked.sum()) / BATCH
                    p[rows, t] -= 1
                    p *= np.float32(1.0 / BATCH)
                    dh = p @ w2.T
                    dh *= 1 - h * h
                    grads = (x.T @ dh, dh.sum(0), h.T @ p, p.sum(0))
                    for w, v, g in zip(params, velocity, grads):
                        v *= 0.9
                        v += g
                        w -= 0.01 * v
                    float(loss)
        return time.perf_counter() - t0
    return once


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    X, y = data()
    runners = {"fit": through_fit(X, y), "hand": by_hand(X, y)}
    best = {name: float("inf") for name in runners}
    for _ in range(args.runs):                      # in turn, so both see the same machine
        for name, once in runners.items():
            best[name] = min(best[name], once())
    steps = EPOCHS * N // BATCH
    us = {name: round(t / steps * 1e6, 1) for name, t in best.items()}
    print(json.dumps({"benchmark": "w2-overhead", "fit_us_per_step": us["fit"],
                      "hand_us_per_step": us["hand"], "framework_us_per_step": round(us["fit"] - us["hand"], 1)}))


if __name__ == "__main__":
    main()
