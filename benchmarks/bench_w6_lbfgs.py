"""W6 lbfgs-fit (WORKLOADS.md): 30-16-1 tanh/sigmoid on breast cancer, full-batch L-BFGS, beside sklearn and torch.

    python benchmarks/bench_w6_lbfgs.py [--repeats 3]

Prints one JSON line per framework (median of the repeats, after one warm-up fit) and a
summary line with the time ratios ours / peer, all measured in this one process.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from peers_path import common  # noqa: E402

import retrograd as rg  # noqa: E402

C = common()


def ours(Xtr, ytr, Xte, yte, repeats, tolerance_grad=1e-7):
    model = rg.nn.Sequential(rg.nn.Linear(30, 16), rg.nn.Tanh(), rg.nn.Linear(16, 1))
    x, t = rg.tensor(Xtr), rg.tensor(ytr.reshape(-1, 1))
    loss_fn = rg.nn.functional.binary_cross_entropy_with_logits

    def train():
        W1, b1, W2, b2 = C.w6_init()
        for p, a in zip(model.parameters(), (W1, b1, W2, b2)):
            p.data[...] = a
        opt = rg.optim.LBFGS(model.parameters(), lr=1, max_iter=200, history_size=10,
                             line_search_fn="strong_wolfe", tolerance_grad=tolerance_grad)

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(x), t)
            loss.backward()
            return loss
        t0 = time.perf_counter()
        opt.step(closure)
        return time.perf_counter() - t0, opt

    def once():
        sec, opt = train()
        with rg.no_grad():
            tr = float(((model(x).data[:, 0] > 0) == (ytr > 0.5)).mean())
            te = float(((model(rg.tensor(Xte)).data[:, 0] > 0) == (yte > 0.5)).mean())
            loss = float(loss_fn(model(x), t).data)
        return sec, {"train_acc": round(tr, 4), "test_acc": round(te, 4), "final_loss": float("%.4g" % loss),
                     "n_iter": opt.n_iter, "func_evals": opt.func_evals}
    warm, _ = train()
    times, info = C.run_repeats(once, repeats)
    return times, info, warm


def torch_peer(Xtr, ytr, Xte, yte, repeats):
    import torch
    torch.set_num_threads(2)
    model = torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x, t = torch.from_numpy(Xtr), torch.from_numpy(ytr).unsqueeze(1)
    F = torch.nn.functional

    def train():
        W1, b1, W2, b2 = C.w6_init()
        with torch.no_grad():
            model[0].weight.copy_(torch.from_numpy(W1.T)); model[0].bias.copy_(torch.from_numpy(b1))
            model[2].weight.copy_(torch.from_numpy(W2.T)); model[2].bias.copy_(torch.from_numpy(b2))
        opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=200, history_size=10, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(x), t)
            loss.backward()
            return loss
        t0 = time.perf_counter()
        opt.step(closure)
        return time.perf_counter() - t0, opt.state[next(iter(model.parameters()))]

    def once():
        sec, st = train()
        with torch.no_grad():
            te = float(((model(torch.from_numpy(Xte))[:, 0] > 0).numpy() == (yte > 0.5)).mean())
        return sec, {"test_acc": round(te, 4), "n_iter": int(st["n_iter"])}
    train()
    times, info = C.run_repeats(once, repeats)
    return times, info


def sklearn_peer(Xtr, ytr, Xte, yte, repeats):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    yi, yti = ytr.astype(int), yte.astype(int)

    def once():
        clf = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", solver="lbfgs", max_iter=200, alpha=0.0,
                            random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            clf.fit(Xtr, yi)
            sec = time.perf_counter() - t0
        return sec, {"test_acc": round(float(clf.score(Xte, yti)), 4), "n_iter": int(clf.n_iter_)}
    once()
    times, info = C.run_repeats(once, repeats)
    return times, info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    Xtr, Xte, ytr, yte = C.cancer_split()
    data = (Xtr, ytr, Xte, yte)
    # two stopping tolerances: torch's defaults (max |g| <= 1e-7), and scikit-learn's
    # (scipy's pgtol = tol = 1e-4 on the same max |g|), so each peer is met on its own terms
    ours_runs = {}
    for label, tol in (("retrograd", 1e-7), ("retrograd-gtol1e-4", 1e-4)):
        times, info, warm = ours(*data, a.repeats, tolerance_grad=tol)
        ours_runs[label] = C.emit(label, "W6", times, seconds=round(C.median(times), 4),
                                  warmup_s=round(warm, 4), tolerance_grad=tol, **info)
    peers = {}
    for name, fn in (("sklearn", sklearn_peer), ("torch", torch_peer)):
        try:
            ptimes, pinfo = fn(*data, a.repeats)
        except ImportError as exc:
            print(json.dumps({"framework": name, "workload": "W6", "skipped": str(exc)}), flush=True)
            continue
        peers[name] = C.emit(name, "W6", ptimes, seconds=round(C.median(ptimes), 4), **pinfo)
    for label, rec in ours_runs.items():
        summary = {"workload": "W6", "summary": label, "retrograd_s": rec["median_s"]}
        for name, prec in peers.items():
            summary[f"{name}_s"] = prec["median_s"]
            summary[f"ratio_vs_{name}"] = round(rec["median_s"] / prec["median_s"], 3)
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
