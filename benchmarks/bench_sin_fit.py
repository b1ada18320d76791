"""Time and iterations to MSE 1e-6 for every optimizer on the sin fit (1-10-1 tanh net, 100 points, float64).

    python benchmarks/bench_sin_fit.py [--budget 10] [--only lm lbfgs adam] [--seed 0] [--peers]

Each optimizer starts from the same weights and runs until the training MSE is below 1e-6,
or until ``--budget`` seconds of stepping (the MSE checks are not timed). One JSON line per
optimizer, then a summary table. ``--peers`` adds torch.optim (Adam, L-BFGS) on the same problem.
"""
import argparse
import json
import time

import numpy as np

import retrograd as rg

TARGET = 1e-6

# name -> (hyperparameters, iterations per step): L-BFGS runs several iterations per step call
OPTIMIZERS = {
    "lm": ({}, 1), "br": ({}, 1), "hessian_free": ({}, 1),
    "lbfgs": (dict(line_search_fn="strong_wolfe", history_size=10, max_iter=5, tolerance_grad=0,
                   tolerance_change=0), 5),
    "cg": ({}, 1), "scg": ({}, 1),
    "adam": (dict(lr=0.01), 1), "adamw": (dict(lr=0.01, weight_decay=0.0), 1), "amsgrad": (dict(lr=0.01), 1),
    "nadam": (dict(lr=0.01), 1), "rmsprop": (dict(lr=0.001), 1), "adagrad": (dict(lr=0.1), 1),
    "sgd": (dict(lr=0.1, momentum=0.9), 1),
    "rprop+": ({}, 1), "rprop-": ({}, 1), "irprop+": ({}, 1), "irprop-": ({}, 1), "sarprop": ({}, 1),
    "quickprop": (dict(lr=0.05), 1), "bold_driver": (dict(lr=0.1, momentum=0.9), 1),
    "delta_bar_delta": (dict(lr=0.05, kappa=1e-3), 1), "supersab": (dict(lr=0.05, momentum=0.5), 1),
}


def problem(seed):
    x = np.linspace(-np.pi, np.pi, 100).reshape(-1, 1)
    rng = np.random.default_rng(seed)
    init = [rng.uniform(-1, 1, (1, 10)), rng.uniform(-1, 1, 10), rng.uniform(-0.5, 0.5, (10, 1)), np.zeros(1)]
    return x, np.sin(x), init


def run_ours(name, seed, budget):
    hyper, per_step = OPTIMIZERS[name]
    x, y, init = problem(seed)
    params = [rg.tensor(a.copy(), requires_grad=True) for a in init]
    X, Y = rg.tensor(x), rg.tensor(y)

    def net():
        return rg.tanh(X @ params[0] + params[1]) @ params[2] + params[3]
    opt = rg.optim.get(name, params, **hyper)
    if opt.closure_kind == "residuals":
        def closure():
            return (net() - Y).reshape(-1)
    else:
        def closure():
            opt.zero_grad()
            loss = ((net() - Y) ** 2).mean()
            loss.backward()
            return loss
    spent, steps, mse = 0.0, 0, np.inf
    while spent < budget:
        t0 = time.perf_counter()
        opt.step(closure)
        spent += time.perf_counter() - t0
        steps += 1
        with rg.no_grad():
            mse = float(((net().data - y) ** 2).mean())
        if mse < TARGET or not np.isfinite(mse) or getattr(opt, "stopped", False):
            break
    iters = getattr(opt, "n_iter", None) if name == "lbfgs" else steps * per_step
    return {"framework": "retrograd", "optimizer": name, "reached": bool(mse < TARGET), "iterations": iters,
            "seconds": round(spent, 4), "final_mse": float("%.3g" % mse)}


def run_torch(name, seed, budget):
    import torch
    torch.set_num_threads(2)
    x, y, init = problem(seed)
    ps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    X, Y = torch.tensor(x), torch.tensor(y)

    def net():
        return torch.tanh(X @ ps[0] + ps[1]) @ ps[2] + ps[3]
    if name == "adam":
        opt = torch.optim.Adam(ps, lr=0.01)
    else:
        opt = torch.optim.LBFGS(ps, line_search_fn="strong_wolfe", history_size=10, max_iter=5, tolerance_grad=0,
                                tolerance_change=0)

    def closure():
        opt.zero_grad()
        loss = ((net() - Y) ** 2).mean()
        loss.backward()
        return loss
    spent, steps, mse = 0.0, 0, np.inf
    while spent < budget:
        t0 = time.perf_counter()
        opt.step(closure)
        spent += time.perf_counter() - t0
        steps += 1
        with torch.no_grad():
            mse = float(((net() - Y) ** 2).mean())
        if mse < TARGET:
            break
    iters = opt.state[ps[0]]["n_iter"] if name == "lbfgs" else steps
    return {"framework": "torch", "optimizer": name, "reached": bool(mse < TARGET), "iterations": iters,
            "seconds": round(spent, 4), "final_mse": float("%.3g" % mse)}


def _median_of(run, repeats):
    """The run with the median time; a run that exhausts the budget is not repeated."""
    rows = [run()]
    if rows[0]["reached"]:
        rows += [run() for _ in range(repeats - 1)]
    rows.sort(key=lambda r: r["seconds"])
    row = rows[len(rows) // 2]
    row["times_s"] = [r["seconds"] for r in rows]
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=10.0, help="seconds of stepping per optimizer")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="median of this many runs (1 if the budget runs out)")
    a = ap.parse_args()
    rows = []
    for name in a.only or OPTIMIZERS:
        run_ours(name, a.seed, 0.05)                         # warm-up: imports, first-call caches
        rows.append(_median_of(lambda: run_ours(name, a.seed, a.budget), a.repeats))
        print(json.dumps({"workload": "sin_fit", "seed": a.seed, **rows[-1]}), flush=True)
    if a.peers:
        for name in ("adam", "lbfgs"):
            try:
                run_torch(name, a.seed, 0.05)
                rows.append(_median_of(lambda: run_torch(name, a.seed, a.budget), a.repeats))
            except ImportError:
                continue
            print(json.dumps({"workload": "sin_fit", "seed": a.seed, **rows[-1]}), flush=True)
    ok = sorted((r for r in rows if r["reached"]), key=lambda r: r["seconds"])
    print(json.dumps({"workload": "sin_fit", "summary": True, "ranking_by_time_to_1e-6":
                      [f"{r['framework']}:{r['optimizer']} {r['seconds']}s/{r['iterations']}it" for r in ok],
                      "not_reached": [f"{r['framework']}:{r['optimizer']} mse={r['final_mse']}" for r in rows
                                      if not r["reached"]]}), flush=True)


if __name__ == "__main__":
    main()
