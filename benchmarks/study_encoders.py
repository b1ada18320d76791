"""Study: BP, Quickprop, Rprop and SuperSAB on the 10-5-10 and 12-2-12 encoders, with and without Fahlman's fixes.

Full batch, the 40-20-40 criterion of Fahlman (1988) and Riedmiller & Braun (1993)
(an output counts as 0 below 40 % of its range and as 1 above 60 %; the problem
is solved when every output of every pattern is right), 10 seeds, at most
3,000 epochs. For each algorithm, problem and setting it prints how many seeds
solved the problem and the median number of epochs of those that did.

Settings (columns):
  defaults   the library's defaults: Glorot-uniform weights with zero biases, logistic
             units, 0/1 targets, half_sse, the optimizer's default step size
  +offset    the same with Sigmoid(prime_offset=0.1) on every unit
  +offset-h  the offset on the hidden units only
  +offset-o  the offset on the output units only
  +atanh     the same with Fahlman's atanh error instead of half_sse
  +both      both fixes
  fahlman    Fahlman's set-up: weights and biases uniform in ±1, symmetric sigmoid
             units (σ − ½) with ±½ targets, both fixes
  fahlman-   Fahlman's set-up without the fixes

    python benchmarks/study_encoders.py                 # the table in docs/optim.md (about 10 min)
    python benchmarks/study_encoders.py --seeds 3 --problems 12-2-12 --algorithms rprop
"""
import argparse
import statistics
import time

import numpy as np

import retrograd as rg
from retrograd.nn.module import Module

# (optimizer, its settings with the library's default step size, its settings in Fahlman's set-up).
# BP has no usable default (SGD's lr=0.01 is meant for mean losses), so it runs with lr 0.1 and
# momentum 0.9 throughout. The Fahlman-set-up step sizes were the best on 5 seeds of 12-2-12 among
# lr in {0.01, 0.05, 0.1, 0.5} (BP {0.1, 0.5, 1, 2}, Rprop's Δ0 {0.01, 0.1, 1}).
ALGORITHMS = {
    "bp": ("sgd", {"lr": 0.1, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.9}),
    "quickprop": ("quickprop", {}, {"lr": 0.01}),
    "rprop": ("rprop", {}, {"lr": 0.1}),
    "supersab": ("supersab", {}, {"lr": 0.01}),
}
SETTINGS = {  # name: (init, symmetric units, prime offset (hidden, output), loss, Fahlman's step sizes)
    "defaults": ("glorot", False, (0.0, 0.0), "half_sse", False),
    "+offset": ("glorot", False, (0.1, 0.1), "half_sse", False),
    "+offset-h": ("glorot", False, (0.1, 0.0), "half_sse", False),
    "+offset-o": ("glorot", False, (0.0, 0.1), "half_sse", False),
    "+atanh": ("glorot", False, (0.0, 0.0), "atanh_error", False),
    "+both": ("glorot", False, (0.1, 0.1), "atanh_error", False),
    "fahlman": ("uniform1", True, (0.1, 0.1), "atanh_error", True),
    "fahlman-": ("uniform1", True, (0.0, 0.0), "half_sse", True),
}


class SymmetricSigmoid(Module):
    """Fahlman's unit: σ(x) − ½, with the optional prime offset."""
    traceable = True

    def __init__(self, prime_offset: float = 0.0) -> None:
        super().__init__()
        self.prime_offset = prime_offset

    def forward(self, x):
        return rg.nn.functional.sigmoid(x, prime_offset=self.prime_offset) - 0.5


def build(n: int, m: int, init: str, symmetric: bool, offset: tuple, seed: int) -> Module:
    rng = np.random.default_rng(seed)
    first = rg.nn.Linear(n, m, dtype=np.float64, generator=rng)
    second = rg.nn.Linear(m, n, dtype=np.float64, generator=rng)
    if init == "uniform1":
        for p in (first.weight, first.bias, second.weight, second.bias):
            p.data[...] = rng.uniform(-1.0, 1.0, p.shape)
    unit = SymmetricSigmoid if symmetric else (lambda c: rg.nn.Sigmoid(prime_offset=c))
    return rg.nn.Sequential(first, unit(offset[0]), second, unit(offset[1]))


def run(n: int, m: int, algorithm: str, setting: str, seed: int, max_epochs: int = 3000):
    """Epochs until the 40-20-40 criterion holds (the weights of that epoch are the solution), or None."""
    init, symmetric, offset, loss_name, tuned = SETTINGS[setting]
    name, default, best = ALGORITHMS[algorithm]
    model = build(n, m, init, symmetric, offset, seed)
    opt = rg.optim.get(name, model.parameters(), **(best if tuned else default))
    loss = rg.nn.get_loss(loss_name)
    X = np.eye(n)
    T = X - 0.5 if symmetric else X
    x, low = rg.tensor(X), (-0.5 if symmetric else 0.0)
    seen = {}

    def closure():
        opt.zero_grad()
        y = model(x)
        seen["y"] = y.data
        value = loss(y, T)
        value.backward()
        return value

    for epoch in range(max_epochs):
        opt.step(closure)                      # the outputs checked are those before this step
        y = seen["y"] - low
        if not np.all(np.isfinite(y)):
            return None
        if np.all(np.where(X > 0.5, y > 0.6, y < 0.4)):
            return epoch
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--problems", nargs="+", default=["10-5-10", "12-2-12"])
    ap.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS))
    args = ap.parse_args()
    print(f"{args.seeds} seeds, at most {args.epochs} epochs; cells: solved/{args.seeds} (median epochs)\n")
    print("| problem | algorithm | " + " | ".join(args.settings) + " |")
    print("|---|---|" + "---|" * len(args.settings))
    t0 = time.perf_counter()
    for problem in args.problems:
        n, m, _ = (int(v) for v in problem.split("-"))
        for algorithm in args.algorithms:
            cells = []
            for setting in args.settings:
                epochs = [run(n, m, algorithm, setting, s, args.epochs) for s in range(args.seeds)]
                done = [e for e in epochs if e is not None]
                cells.append(f"{len(done)}/{args.seeds}" + (f" ({statistics.median(done):g})" if done else ""))
            print(f"| {problem} | {algorithm} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
