"""MNIST-1D with the MLP of its paper (Greydanus 2020): 40-100-100-10 ReLU, Adam lr 1e-2, batch 100, 6000 steps.

    python benchmarks/bench_mnist1d.py [--peers torch sklearn] [--repeats 3] [--seeds 0 1 2]

The data are generated locally by the mnist1d package (``make_dataset(get_dataset_args())``,
4000 train / 1000 test); the paper reports about 68% test accuracy for this MLP. Init is
PyTorch's default (fan-in uniform for weights and biases, drawn from ``default_rng(seed)`` in
layer order) copied into every framework, and all see the same batches: one
``default_rng(1)`` permutation per epoch, 40 batches of 100 per epoch, 150 epochs = 6000 steps
(the paper's script draws random batches instead; the step count is the same). Timing covers
the training loop only (WORKLOADS.md rules: warm-up, median of 3 repeats, 2 torch threads).
Prints one JSON line per framework, then a summary line with the speed ratios and accuracies.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

PEERS = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "peers"
sys.path.insert(0, str(PEERS))
import common as C  # noqa: E402 - shared timing/emit helpers of the peer scripts

import retrograd as rg  # noqa: E402

SIZES = [40, 100, 100, 10]
LR = 1e-2
BATCH = 100
EPOCHS = 150            # 4000 / 100 = 40 steps per epoch -> 6000 steps
SHUFFLE_SEED = 1
WARMUP_EPOCHS = 1
PAPER_ACC = 0.68


def data():
    s = rg.data.load_mnist1d()
    return s.X_train, s.y_train, s.X_test, s.y_test


def init(seed):
    """[W1, b1, W2, b2, W3, b3], W of shape (fan_in, fan_out), PyTorch's default bounds."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        params.append(C.fanin_uniform(rng, (fan_in, fan_out), fan_in, np.float32))
        params.append(C.fanin_uniform(rng, (fan_out,), fan_in, np.float32))
    return params


def ours(seed, perms):
    Xtr, ytr, Xte, yte = data()
    model = rg.nn.Sequential(rg.nn.Linear(40, 100), rg.nn.ReLU(), rg.nn.Linear(100, 100), rg.nn.ReLU(),
                             rg.nn.Linear(100, 10))
    keys = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]

    def train(epoch_perms):
        model.load_state_dict(dict(zip(keys, init(seed))))
        opt = rg.optim.Adam(model.parameters(), lr=LR)
        t0 = time.perf_counter()
        rg.fit(model, "cross_entropy", opt, (Xtr, ytr), epochs=len(epoch_perms), batch_size=BATCH,
               shuffle=[np.asarray(p) for p in epoch_perms], quiet=True, train_metrics=False)
        return time.perf_counter() - t0

    warm = train(perms[:WARMUP_EPOCHS])

    def once():
        t = train(perms)
        with rg.no_grad():
            acc = float(np.mean(model(rg.tensor(Xte)).data.argmax(1) == yte))
        return t, {"test_acc": round(acc, 4)}
    times, info = C.run_repeats(once, repeats=C.REPEATS)
    return C.emit("retrograd", "mnist1d-mlp", times, steps_per_s=round(6000 / C.median(times), 1),
                  warmup_s=round(warm, 3), seed=seed, **info)


def torch_eager(seed, perms):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    Xtr, ytr, Xte, yte = data()
    Xtr_t, ytr_t = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    epochs = [[torch.from_numpy(i) for i in C.batches(p, BATCH)] for p in perms]
    model = torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100),
                                torch.nn.ReLU(), torch.nn.Linear(100, 10))

    def train(eps):
        params = init(seed)
        with torch.no_grad():
            for k, lin in enumerate((model[0], model[2], model[4])):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[2 * k].T)))
                lin.bias.copy_(torch.from_numpy(params[2 * k + 1]))
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        t0 = time.perf_counter()
        for ep in eps:
            for idx in ep:
                opt.zero_grad()
                F.cross_entropy(model(Xtr_t[idx]), ytr_t[idx]).backward()
                opt.step()
        return time.perf_counter() - t0

    warm = train(epochs[:WARMUP_EPOCHS])

    def once():
        t = train(epochs)
        with torch.no_grad():
            acc = float((model(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
        return t, {"test_acc": round(acc, 4)}
    times, info = C.run_repeats(once, repeats=C.REPEATS)
    return C.emit("torch", "mnist1d-mlp", times, steps_per_s=round(6000 / C.median(times), 1),
                  warmup_s=round(warm, 3), threads=torch.get_num_threads(), seed=seed, **info)


def sklearn_mlp(seed):
    """MLPClassifier with the same architecture and optimiser (its own init and shuffling)."""
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    Xtr, ytr, Xte, yte = data()

    def once():
        clf = MLPClassifier(hidden_layer_sizes=(100, 100), activation="relu", solver="adam",
                            learning_rate_init=LR, batch_size=BATCH, max_iter=EPOCHS, alpha=0.0,
                            tol=0.0, n_iter_no_change=10 ** 9, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            clf.fit(Xtr, ytr)
            t = time.perf_counter() - t0
        return t, {"test_acc": round(float(clf.score(Xte, yte)), 4)}
    times, info = C.run_repeats(once, repeats=C.REPEATS)
    return C.emit("sklearn", "mnist1d-mlp", times, steps_per_s=round(6000 / C.median(times), 1),
                  seed=seed, **info)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers", nargs="*", default=["torch", "sklearn"], choices=["torch", "sklearn"])
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (default 3)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="init seeds; accuracy is averaged")
    a = p.parse_args()
    if a.repeats:
        C.REPEATS = a.repeats
        os.environ["BENCH_REPEATS"] = str(a.repeats)
    perms = C.epoch_permutations(4000, EPOCHS, SHUFFLE_SEED)
    results = {}
    for seed in a.seeds:
        runs = {"retrograd": ours(seed, perms)}
        if "torch" in a.peers:
            runs["torch"] = torch_eager(seed, perms)
        if "sklearn" in a.peers:
            runs["sklearn"] = sklearn_mlp(seed)
        for name, rec in runs.items():
            results.setdefault(name, []).append(rec)
    mine = C.median([r["median_s"] for r in results["retrograd"]])
    summary = {"workload": "mnist1d-mlp", "summary": True, "paper_test_acc": PAPER_ACC, "seeds": a.seeds}
    for name, recs in results.items():
        summary[f"test_acc_{name}"] = round(float(np.mean([r["test_acc"] for r in recs])), 4)
        if name != "retrograd":
            summary[f"speedup_vs_{name}"] = round(C.median([r["median_s"] for r in recs]) / mine, 2)
    summary["retrograd_s"] = round(mine, 3)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
