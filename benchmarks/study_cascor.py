"""Study: cascade-correlation on the paper's benchmarks, two spirals and N-bit parity, over many seeds.

Fahlman & Lebiere (1990) report, for two spirals over 100 trials with a pool of 8
sigmoid candidates: every trial solved, 12-19 hidden units (mean 15.2, median 15),
about 1,700 epochs (output and candidate epochs together). This script runs the
same set-up with rg.training.CascadeCorrelation's defaults (Fahlman's C-code
parameters) and prints the medians, ranges and distributions that docs/cascor.md quotes.

    python benchmarks/study_cascor.py                  # 100 spiral seeds, parity 2..8 x 20 seeds (~1 min quiet)
    python benchmarks/study_cascor.py --spiral-seeds 10 --parity-seeds 5
"""
import argparse
import statistics
import time
from collections import Counter

import numpy as np

import retrograd as rg
from retrograd.training import CascadeCorrelation


def trial(X, T, seed, **settings):
    """(solved, hidden units, epochs, seconds, points right) of one run, checked on the returned network."""
    t0 = time.perf_counter()
    cc = CascadeCorrelation(seed=seed, **settings)
    model = cc.fit(X, T)
    seconds = time.perf_counter() - t0
    right = int(np.sum(np.all(np.abs(model(rg.tensor(X)).data - T) <= cc.score_threshold, axis=1)))
    return cc.solved_, model.n_hidden, cc.epochs_, seconds, right


def summary(rows, n_points):
    solved = [r for r in rows if r[0] and r[4] == n_points]
    units = [r[1] for r in solved]
    epochs = [r[2] for r in solved]
    secs = [r[3] for r in rows]
    if not solved:
        return f"0/{len(rows)} solved"
    return (f"{len(solved)}/{len(rows)} solved; units median {statistics.median(units):g} "
            f"(mean {statistics.mean(units):.1f}, range {min(units)}-{max(units)}); epochs median "
            f"{statistics.median(epochs):g} (mean {statistics.mean(epochs):.0f}, range {min(epochs)}-{max(epochs)}); "
            f"time median {statistics.median(secs) * 1000:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spiral-seeds", type=int, default=100)
    ap.add_argument("--parity-seeds", type=int, default=20)
    ap.add_argument("--max-bits", type=int, default=8)
    args = ap.parse_args()

    X, y = rg.data.two_spirals()
    T = y - 0.5
    for pool in (("sigmoid_symmetric",), ("sigmoid_symmetric", "gaussian")):
        rows = [trial(X, T, s, max_hidden=40, candidate_activations=pool) for s in range(args.spiral_seeds)]
        print(f"two spirals, pool {'+'.join(pool)}: {summary(rows, 194)}")
        counts = Counter(r[1] for r in rows if r[0])
        print("  hidden units: " + ", ".join(f"{k}: {counts[k]}" for k in sorted(counts)))

    print(f"\nN-bit parity, {args.parity_seeds} seeds each, pool of 8 (solved; units median [range]; epochs median)")
    kinds = (("gaussian",), ("sigmoid_symmetric",), ("sigmoid_symmetric", "gaussian"))
    print("| N | " + " | ".join("+".join(k) for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for n_bits in range(2, args.max_bits + 1):
        Xp, yp = rg.data.parity(n_bits)
        cells = []
        for pool in kinds:
            rows = [trial(Xp, yp - 0.5, s, max_hidden=20, candidate_activations=pool)
                    for s in range(args.parity_seeds)]
            ok = [r for r in rows if r[0] and r[4] == 2 ** n_bits]
            if ok:
                u = [r[1] for r in ok]
                cells.append(f"{len(ok)}/{len(rows)}; {statistics.median(u):g} [{min(u)}-{max(u)}]; "
                             f"{statistics.median(r[2] for r in ok):g}")
            else:
                cells.append(f"0/{len(rows)}")
        print(f"| {n_bits} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
