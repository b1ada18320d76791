"""W2 digits-mlp (WORKLOADS.md) through rg.fit, with PyTorch eager and scikit-learn run in the same process.

    python benchmarks/bench_w2_digits.py [--peers torch sklearn] [--variants ...] [--repeats 3]

The repeats of all set-ups run in turn (``interleave.py``), so every one sees
the same drift of the shared machine. Prints one JSON line per framework (the
fields of ../shared/bench/peers), then
one line per retrograd variant with its speed ratios to the peers. Variants:
``retrograd`` (loss="cross_entropy", the defaults: the step is recorded and
replayed, small steps run BLAS on one thread), ``retrograd-eager``
(``compile=False``: every step through the Tensor engine),
``retrograd-fused-xent`` (a plain-function loss, so also eager),
``retrograd-blas-default`` (BLAS left at its default thread count, as the
peers' numpy runs). Timing covers the training loop only: for
retrograd that is the whole ``rg.fit`` call (trainer set-up, per-epoch
shuffle, 30 epochs); the model is built and initialised outside it.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

# ../shared/bench/peers next to the repository (as in CI); BENCH_PEERS overrides it.
PEERS = Path(os.environ.get("BENCH_PEERS")
             or Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "peers")
sys.path.insert(0, str(PEERS))
import common as C  # noqa: E402 - the shared data, init and shuffle rules
from interleave import interleave  # noqa: E402 - repeats in turn, shared by W2, W4, W5

import retrograd as rg  # noqa: E402


def fused_cross_entropy(outputs, targets):
    """The same mean softmax cross-entropy as rg.nn's, as one fused primitive."""
    from retrograd.autograd.ops.softmax_xent import softmax_cross_entropy
    return rg.mean(softmax_cross_entropy(outputs, targets))


VARIANTS = {  # label -> rg.fit keyword arguments
    "retrograd": {"loss": "cross_entropy"},
    "retrograd-eager": {"loss": "cross_entropy", "compile": False},
    "retrograd-fused-xent": {"loss": fused_cross_entropy},
    "retrograd-blas-default": {"loss": "cross_entropy", "blas_threads": None},
}


def ours(label="retrograd"):
    """W2 through rg.fit: the shared init copied into the Linear layers, seed=1 reproduces the shuffle."""
    Xtr, Xte, ytr, yte = C.digits_split()
    model = rg.nn.Sequential(rg.nn.Linear(64, 256), rg.nn.Tanh(), rg.nn.Linear(256, 10))
    kw = dict(VARIANTS[label])
    loss = kw.pop("loss")

    def train(epochs):
        W1, b1, W2, b2 = C.w2_init()
        model.load_state_dict({"0.weight": W1, "0.bias": b1, "2.weight": W2, "2.bias": b2})
        opt = rg.optim.SGD(model.parameters(), lr=C.W2_LR, momentum=C.W2_MOM)
        t0 = time.perf_counter()
        history = rg.fit(model, loss, opt, (Xtr, ytr), epochs=epochs, batch_size=C.W2_BATCH,
                         seed=C.W2_SHUFFLE_SEED, quiet=True, **kw)
        return time.perf_counter() - t0, history

    warm, _ = train(1)

    def once():
        t, history = train(C.W2_EPOCHS)
        with rg.no_grad():
            pred = model(rg.tensor(Xte)).data.argmax(1)
        return t, {"test_acc": round(float(np.mean(pred == yte)), 4),
                   "final_loss": round(history["loss"][-1], 6)}
    def report(times, info):
        return C.emit(label, "W2", times, s_per_epoch=round(C.median(times) / C.W2_EPOCHS, 6),
                      warmup_s=round(warm, 3), **info)
    return once, report


def torch_eager():
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    Xtr, Xte, ytr, yte = C.digits_split()
    Xtr_t, ytr_t = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    perms = C.epoch_permutations(len(Xtr), C.W2_EPOCHS, C.W2_SHUFFLE_SEED)
    epochs = [[torch.from_numpy(i) for i in C.batches(p, C.W2_BATCH)] for p in perms]
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 10))

    def train(eps):
        W1, b1, W2, b2 = C.w2_init()
        with torch.no_grad():
            for lin, W, b in ((model[0], W1, b1), (model[2], W2, b2)):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                lin.bias.copy_(torch.from_numpy(b))
        opt = torch.optim.SGD(model.parameters(), lr=C.W2_LR, momentum=C.W2_MOM)
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
            acc = (model(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean()
        return t, {"test_acc": round(float(acc), 4)}
    def report(times, info):
        return C.emit("torch", "W2", times, s_per_epoch=round(C.median(times) / C.W2_EPOCHS, 6),
                      warmup_s=round(warm, 3), threads=torch.get_num_threads(), **info)
    return once, report


def sklearn_mlp():
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    Xtr, Xte, ytr, yte = C.digits_split()

    def once():
        clf = MLPClassifier(hidden_layer_sizes=(256,), activation="tanh", solver="sgd",
                            learning_rate_init=C.W2_LR, momentum=C.W2_MOM,
                            nesterovs_momentum=False, batch_size=C.W2_BATCH,
                            max_iter=C.W2_EPOCHS, alpha=0.0, tol=0.0,
                            n_iter_no_change=10 ** 9, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            clf.fit(Xtr, ytr)
            t = time.perf_counter() - t0
        return t, {"test_acc": round(float(clf.score(Xte, yte)), 4)}

    def report(times, info):
        return C.emit("sklearn", "W2", times, s_per_epoch=round(C.median(times) / C.W2_EPOCHS, 6), **info)
    return once, report


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers", nargs="*", default=["torch", "sklearn"], choices=["torch", "sklearn"])
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                   help="retrograd set-ups to time (default: all)")
    p.add_argument("--repeats", type=int, default=None, help="repeats per figure (default 3)")
    a = p.parse_args()
    if a.repeats:
        C.REPEATS = a.repeats
    setups = {label: ours(label) for label in a.variants}
    if "torch" in a.peers:
        setups["torch"] = torch_eager()
    if "sklearn" in a.peers:
        setups["sklearn"] = sklearn_mlp()
    results = dict(zip(setups, interleave(list(setups.values()), C.REPEATS)))
    for label in a.variants:
        mine = results[label]["s_per_epoch"]
        ratios = {f"speedup_vs_{k}": round(v["s_per_epoch"] / mine, 2) for k, v in results.items()
                  if k in ("torch", "sklearn")}
        print(json.dumps({"workload": "W2", "summary": label, **ratios,
                          "test_acc": results[label]["test_acc"]}), flush=True)


if __name__ == "__main__":
    main()
