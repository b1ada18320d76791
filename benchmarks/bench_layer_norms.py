"""What recording per-layer norms (ParameterNorms, the report's callback) costs: W2 through rg.fit with and without it.

    python benchmarks/bench_layer_norms.py [--repeats 5]

W2 digits-mlp of WORKLOADS.md (64-256-10 tanh, SGD 0.05/0.9, batch 32, 30
epochs, the shared init and shuffle), once plain and once with
``callbacks=[ParameterNorms()]``, the repeats alternating in one process
(``interleave.py``) so both see the same drift of the shared machine. Prints
one JSON line per set-up and a summary with ``overhead`` = with / without - 1
(target: under 5%) and the callback's own time per epoch. Both set-ups must
end with the same weights: the callback only reads them.
"""
import argparse
import json
import time

import numpy as np

from peers_path import common
from interleave import interleave

import retrograd as rg
from retrograd.training.parameter_norms import ParameterNorms

C = common()


def setup(with_norms):
    """(once, report) for interleave: W2 through rg.fit, with or without the norms callback."""
    Xtr, Xte, ytr, yte = C.digits_split()
    model = rg.nn.Sequential(rg.nn.Linear(64, 256), rg.nn.Tanh(), rg.nn.Linear(256, 10))
    label = "retrograd+norms" if with_norms else "retrograd"
    last = {}

    def train(epochs):
        W1, b1, W2, b2 = C.w2_init()
        model.load_state_dict({"0.weight": W1, "0.bias": b1, "2.weight": W2, "2.bias": b2})
        opt = rg.optim.SGD(model.parameters(), lr=C.W2_LR, momentum=C.W2_MOM)
        norms = ParameterNorms() if with_norms else None
        t0 = time.perf_counter()
        rg.fit(model, "cross_entropy", opt, (Xtr, ytr), epochs=epochs, batch_size=C.W2_BATCH,
               seed=C.W2_SHUFFLE_SEED, quiet=True, callbacks=[norms] if norms else [])
        return time.perf_counter() - t0, norms

    warm, _ = train(1)

    def once():
        t, norms = train(C.W2_EPOCHS)
        last["weights"] = [p.data.copy() for p in model.parameters()]
        info = {"final_w_sum": float(sum(float(np.sum(w, dtype=np.float64)) for w in last["weights"]))}
        if norms is not None:
            info["callback_s"] = round(norms.seconds, 6)
            info["rows"] = len(norms.records)
        return t, info

    def report(times, info):
        return C.emit(label, "W2", times, s_per_epoch=round(C.median(times) / C.W2_EPOCHS, 6),
                      warmup_s=round(warm, 3), **info)
    return once, report, last


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per set-up (default 5)")
    a = p.parse_args()
    plain, norms = setup(False), setup(True)
    results = interleave([plain[:2], norms[:2]], a.repeats)
    for w0, w1 in zip(plain[2]["weights"], norms[2]["weights"]):
        np.testing.assert_array_equal(w0, w1)          # the callback changed nothing in training
    base, with_cb = results[0]["median_s"], results[1]["median_s"]
    print(json.dumps({"workload": "W2", "summary": "layer-norms overhead",
                      "overhead": round(with_cb / base - 1, 4),
                      "callback_share": round(results[1]["callback_s"] / with_cb, 4),
                      "callback_ms_per_epoch": round(results[1]["callback_s"] / C.W2_EPOCHS * 1e3, 4),
                      "target": "< 0.05"}), flush=True)


if __name__ == "__main__":
    main()
