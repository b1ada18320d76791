"""A/B of two source trees in one process: each copied under its own package name, the workloads run in turn.

    BENCH_PEERS=../shared/bench/peers python benchmarks/ab_trees.py A_SRC B_SRC ROUNDS WORKLOAD...

``A_SRC``/``B_SRC`` are ``src`` folders (e.g. /work/main/src and this tree's
``src``, with their extensions built); workloads: ``perop w1 w2 w4 w5 w6``.
Each tree is copied to a temporary folder as ``rg_a`` / ``rg_b`` (the
extension loaders renamed to match), the benchmark modules are loaded once per
tree, and every round runs A, B and the peer in turn (the order alternating),
so the drift of a shared machine falls on both alike. Prints, per workload,
the median over rounds of B's time over A's (below 1: B is faster) and each
tree's ratio to the peer. Used for issue #14's "no regression" figures.
"""
import importlib
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))


def copy_tree(src, name, root):
    """``src/retrograd`` copied to ``root/name``, its ctypes loaders pointed at the copy's extensions."""
    dst = os.path.join(root, name)
    shutil.copytree(os.path.join(src, "retrograd"), dst, ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _, files in os.walk(dst):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                text = open(path).read()
                moved = text.replace('load_extension("retrograd.', f'load_extension("{name}.')
                if moved != text:
                    open(path, "w").write(moved)


def bench_module(file, package):
    """The benchmark module ``file`` loaded with ``import retrograd`` bound to ``package``."""
    sys.modules["retrograd"] = package
    for cached in ("bench_engine", "bench_w2_digits", "bench_w4_lstm", "bench_w5_conv", "bench_w6_lbfgs"):
        sys.modules.pop(cached, None)
    spec = importlib.util.spec_from_file_location(f"{file}_{package.__name__}", os.path.join(BENCH, file + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(workload, onces, rounds):
    """Time the ``once()`` of every set-up ``rounds`` times in turn; print the ratios."""
    times = {k: [] for k in onces}
    for r in range(rounds):
        for k in (list(onces) if r % 2 == 0 else list(onces)[::-1]):
            times[k].append(onces[k]())
    median = {k: statistics.median(v) for k, v in times.items()}
    ratios = [b / a for a, b in zip(times["a"], times["b"])]
    out = {"workload": workload, "rounds": rounds, "median_s": {k: round(v, 5) for k, v in median.items()},
           "b_over_a_time": round(statistics.median(ratios), 4), "each": [round(x, 3) for x in ratios]}
    for peer in [k for k in onces if k not in ("a", "b")]:
        out[f"a_speedup_vs_{peer}"] = round(median[peer] / median["a"], 3)
        out[f"b_speedup_vs_{peer}"] = round(median[peer] / median["b"], 3)
    print(json.dumps(out), flush=True)


def main():
    a_src, b_src, rounds, workloads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    root = tempfile.mkdtemp(prefix="retrograd_ab_")
    copy_tree(a_src, "rg_a", root)
    copy_tree(b_src, "rg_b", root)
    sys.path[:0] = [root, BENCH]
    pkgs = {"a": importlib.import_module("rg_a"), "b": importlib.import_module("rg_b")}
    for w in workloads:
        if w in ("perop", "w1"):
            mods = {k: bench_module("bench_engine", p) for k, p in pkgs.items()}
            if w == "perop":
                import numpy as np

                def chain(k):
                    x = mods[k].rg.tensor(np.ones((2, 2)), requires_grad=True)

                    def once():
                        t0 = time.perf_counter()
                        for _ in range(2000):
                            mods[k].rg_chain(x).backward()
                            x.grad = None
                        return time.perf_counter() - t0
                    return once
                run("per-op-overhead", {"a": chain("a"), "b": chain("b")}, rounds)
            else:
                import torch
                torch.set_num_threads(2)
                for m in mods.values():
                    m.w1_once(50)
                run("W1", {"a": lambda: mods["a"].w1_once()[0], "b": lambda: mods["b"].w1_once()[0],
                           "torch": lambda: mods["a"].torch_w1_once()}, rounds)
        elif w in ("w2", "w4", "w5"):
            file = {"w2": "bench_w2_digits", "w4": "bench_w4_lstm", "w5": "bench_w5_conv"}[w]
            mods = {k: bench_module(file, p) for k, p in pkgs.items()}
            onces = {}
            for k, m in mods.items():
                once, _ = m.ours_fit() if w == "w5" else m.ours()
                onces[k] = (lambda once=once: once()[0])
            import torch
            torch.set_num_threads(2)
            torch_once, _ = mods["a"].torch_eager()
            onces["torch"] = lambda: torch_once()[0]
            run(w.upper(), onces, rounds)
        elif w == "w6":
            mods = {k: bench_module("bench_w6_lbfgs", p) for k, p in pkgs.items()}
            Xtr, Xte, ytr, yte = mods["a"].C.cancer_split()
            args = (Xtr, ytr, Xte, yte, 1)
            run("W6", {"a": lambda: mods["a"].ours(*args)[0][0], "b": lambda: mods["b"].ours(*args)[0][0],
                       "sklearn": lambda: mods["a"].sklearn_peer(*args)[0][0]}, rounds)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
