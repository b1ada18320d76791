"""Gradient checkpointing: the peak memory and the time of a training step of a deep MLP, with and without.

    python benchmarks/bench_checkpoint_memory.py [--layers 32] [--width 1024] [--batch 512] [--every 0 4 8 16]

The network of issue #15: 32 layers of Linear(1024, 1024) + ReLU (64
modules, float32), batch 512, loss ``out.sum()``. Each setting of
``Sequential(checkpoint_every=k)`` (0: off) is measured in its own process:
one step to warm up, then one step under ``tracemalloc`` (NumPy reports its
array allocations to it), from gradients cleared to None. Two figures:

- ``peak_mib``: the step's peak allocation above where it started,
  gradients included (they are as large as the weights, 128 MiB here,
  checkpointing or not);
- ``activation_mib``: that peak less the gradients the step leaves: the
  forward's kept arrays and the backward's work, what checkpointing saves.

``seconds``: the fastest of five steps without tracemalloc, timed in one
process where the settings take turns (a busy machine disturbs them alike);
the recomputation costs about one more forward pass. One JSON line per
setting, then one with the ratios to the plain step.
"""
import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time, tracemalloc
import numpy as np
import retrograd as rg
layers, width, batch, every = map(int, sys.argv[1:5])
rg.manual_seed(0)
modules = []
for _ in range(layers):
    modules += [rg.nn.Linear(width, width), rg.nn.ReLU()]
model = rg.nn.Sequential(*modules, checkpoint_every=every or None)
x = rg.tensor(np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32))

def step():
    model.zero_grad()
    model(x).sum().backward()

step()
model.zero_grad()
tracemalloc.start()
start = tracemalloc.get_traced_memory()[0]
model(x).sum().backward()
peak = tracemalloc.get_traced_memory()[1] - start
tracemalloc.stop()
grads = sum(p.grad.data.nbytes for p in model.parameters())
print(json.dumps({"peak": peak, "activations": peak - grads, "grads": grads}))
"""

# the times, in one process: the settings take turns, round after round, so that a busy machine
# disturbs them alike; the fastest round of each is kept
TIMING = r"""
import json, sys, time
import numpy as np
import retrograd as rg
layers, width, batch, rounds = map(int, sys.argv[1:5])
settings = [int(k) for k in sys.argv[5:]]
rg.manual_seed(0)
modules = []
for _ in range(layers):
    modules += [rg.nn.Linear(width, width), rg.nn.ReLU()]
model = rg.nn.Sequential(*modules)
x = rg.tensor(np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32))
best = {k: float("inf") for k in settings}
for _ in range(rounds):
    for k in settings:
        model.gradient_checkpointing(k or None)
        model.zero_grad()
        t0 = time.perf_counter()
        model(x).sum().backward()
        best[k] = min(best[k], time.perf_counter() - t0)
print(json.dumps(best))
"""


def measure(layers, width, batch, every):
    """One setting, in a fresh process: its figures as a dict."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(layers), str(width), str(batch), str(every)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def timings(layers, width, batch, settings, rounds=5):
    """{setting: seconds of its fastest step}, the settings interleaved in one process."""
    out = subprocess.run([sys.executable, "-c", TIMING, str(layers), str(width), str(batch), str(rounds)]
                         + [str(k) for k in settings], capture_output=True, text=True, check=True).stdout
    return {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--every", type=int, nargs="*", default=[0, 4, 8, 16],
                        help="checkpoint_every settings (0: no checkpointing; measured first in any case)")
    args = parser.parse_args()
    mib = 2.0 ** 20
    settings = [0] + [k for k in args.every if k != 0]
    results = {}
    seconds = timings(args.layers, args.width, args.batch, settings)
    for every in settings:
        r = results[every] = measure(args.layers, args.width, args.batch, every)
        r["seconds"] = seconds[every]
        print(json.dumps({"bench": "checkpoint_memory", "layers": args.layers, "width": args.width,
                          "batch": args.batch, "checkpoint_every": every or None,
                          "peak_mib": round(r["peak"] / mib, 1), "activation_mib": round(r["activations"] / mib, 1),
                          "grads_mib": round(r["grads"] / mib, 1), "seconds": round(r["seconds"], 3)}), flush=True)
    plain = results[0]
    print(json.dumps({"bench": "checkpoint_memory_ratios", "vs": "checkpoint_every=None",
                      "peak": {k: round(r["peak"] / plain["peak"], 3) for k, r in results.items() if k},
                      "activations": {k: round(r["activations"] / plain["activations"], 3)
                                      for k, r in results.items() if k},
                      "time": {k: round(r["seconds"] / plain["seconds"], 2) for k, r in results.items() if k}}))


if __name__ == "__main__":
    main()
