"""Levenberg–Marquardt against MINPACK: sum of squared errors at equal residual evaluations.

    python benchmarks/bench_lm_minpack.py [--seeds 10] [--budgets 100 200 500 1000] [--jobs 2] [--json out.json]

Problems (float64, tanh hidden layer, linear outputs, residuals = output - target):

* ``sin 1-10-1``: 100 points of sin on [-pi, pi] (the tests' sin fit, ``tests/optim/sinfit.py`` start)
* ``surface 2-10-1``: sin(1.5 a) cos(b) on a 10 x 10 grid of [-2, 2]²
* ``iris 4-5-3``: the 150 standardised iris flowers, one-hot targets (450 residuals)

From the same start, each method may evaluate the residuals ``budget`` times;
the table gives the median (over seeds) SSE of the last accepted point.
MINPACK is ``scipy.optimize.least_squares(method="lm")`` (lmder: Moré's trust
region and scaling) with the Jacobian supplied; its Jacobian evaluations are not
residual evaluations (nfev), and neither are retrograd's, which reuses the graph
of the accepted trial's evaluation. Tolerances are set to ~0 so that only the
budget stops a run. Time is not measured, so the machine's load does not matter.
"""
import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import retrograd as rg  # noqa: E402
from retrograd.optim.jacobian import residual_jacobian  # noqa: E402

METHODS = {
    "MINPACK lm": None,
    "rg lm (default: Nielsen)": {},
    "rg lm, Moré scaling, tau=1e-6": dict(scale="more", mu=1e-6),
    "rg lm, trainlm rule": dict(damping="trainlm"),
}
VARIANTS = {                                  # --variants: settings tried while choosing the default
    "rg nielsen tau=1e-3": dict(mu=1e-3),
    "rg nielsen tau=1e-7": dict(mu=1e-7),
    "rg nielsen, Moré, tau=1e-3": dict(scale="more", mu=1e-3),
    "rg nielsen, Moré, tau=1e-4": dict(scale="more", mu=1e-4),
    "rg nielsen, Marquardt": dict(scale="marquardt"),
    "rg trainlm, Moré": dict(damping="trainlm", scale="more"),
}


# ----------------------------------------------------------------------------- problems


def _net(n_in, hidden, n_out, seed, w1_scale=1.0):
    rng = np.random.default_rng(seed)
    model = rg.nn.Sequential(rg.nn.Linear(n_in, hidden, dtype=np.float64), rg.nn.Tanh(),
                             rg.nn.Linear(hidden, n_out, dtype=np.float64))
    W1, b1, W2, b2 = model.parameters()
    W1.data[...] = rng.uniform(-1, 1, W1.shape) * w1_scale
    b1.data[...] = rng.uniform(-1, 1, b1.shape)
    W2.data[...] = rng.uniform(-0.5, 0.5, W2.shape)
    b2.data[...] = 0.0
    return model


def problem(name, seed):
    """(model with its starting weights, X, T)."""
    if name == "sin 1-10-1":
        x = np.linspace(-np.pi, np.pi, 100).reshape(-1, 1)
        return _net(1, 10, 1, seed), x, np.sin(x)
    if name == "surface 2-10-1":
        g = np.linspace(-2, 2, 10)
        a, b = np.meshgrid(g, g)
        X = np.stack([a.ravel(), b.ravel()], axis=1)
        return _net(2, 10, 1, seed), X, np.sin(1.5 * X[:, :1]) * np.cos(X[:, 1:])
    if name == "iris 4-5-3":
        from sklearn.datasets import load_iris
        d = load_iris()
        X = (d.data - d.data.mean(0)) / d.data.std(0)
        return _net(4, 5, 3, seed, w1_scale=0.5), X, np.eye(3)[d.target]
    raise ValueError(name)


PROBLEMS = ["sin 1-10-1", "surface 2-10-1", "iris 4-5-3"]


# ----------------------------------------------------------------------------- runners


class _Spent(Exception):
    pass


def run_retrograd(name, seed, budget, hyper):
    model, X, T = problem(name, seed)
    params = list(model.parameters())
    Xt, Tt = rg.tensor(X), rg.tensor(T)
    calls = [0]

    def residuals():
        if calls[0] >= budget:
            raise _Spent
        calls[0] += 1
        return model(Xt) - Tt                     # (N, outputs): rows are examples
    opt = rg.optim.get("lm", params, mu_max=1e30, **hyper)
    best = [p.data.copy() for p in params]
    try:
        while not opt.stopped:
            opt.step(residuals)
            best = [p.data.copy() for p in params]
    except _Spent:
        pass
    for p, b in zip(params, best):
        p.data[...] = b
    with rg.no_grad():
        r = (model(Xt) - Tt).data.ravel()
    return float(r @ r), min(calls[0], budget)


def run_minpack(name, seed, budget):
    from scipy.optimize import least_squares
    model, X, T = problem(name, seed)
    params = list(model.parameters())
    flat = rg.optim.flat.FlatParams(params)
    Xt, Tt = rg.tensor(X), rg.tensor(T)

    def fun(x):
        flat.set(x)
        with rg.no_grad():
            return (model(Xt) - Tt).data.ravel().copy()

    def jac(x):
        flat.set(x)
        return residual_jacobian(model(Xt) - Tt, params, method="per_sample", check=False)
    res = least_squares(fun, flat.get(), jac=jac, method="lm", max_nfev=budget, ftol=1e-15, xtol=1e-15,
                        gtol=1e-15)
    return float(res.fun @ res.fun), int(res.nfev)


def one(job):
    name, seed, budget, method = job
    hyper = {**METHODS, **VARIANTS}[method]
    sse, nfev = run_minpack(name, seed, budget) if hyper is None else run_retrograd(name, seed, budget, hyper)
    return job, sse, nfev


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budgets", type=int, nargs="*", default=[100, 200, 500, 1000])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write every run's result here")
    ap.add_argument("--variants", action="store_true", help="also run the settings in VARIANTS")
    a = ap.parse_args()
    if a.variants:
        METHODS.update(VARIANTS)
    jobs = [(p, s, b, m) for b in a.budgets for p in PROBLEMS for s in range(a.seeds) for m in METHODS]
    with ProcessPoolExecutor(a.jobs) as pool:
        results = list(pool.map(one, jobs, chunksize=1))
    table = {}
    for (p, s, b, m), sse, nfev in results:
        table.setdefault((p, b), {}).setdefault(m, []).append((s, sse, nfev))
    print(f"median SSE over {a.seeds} seeds at equal residual evaluations (wins: seeds at or below MINPACK)\n")
    print("| problem | evaluations | " + " | ".join(METHODS) + " |")
    print("|---|---:|" + "---:|" * len(METHODS))
    for (p, b), rows in table.items():
        ref = {s: v for s, v, _ in rows["MINPACK lm"]}
        cells = []
        for m in METHODS:
            sses = [v for _, v, _ in rows[m]]
            cell = f"{np.median(sses):.2e}"
            if m != "MINPACK lm":
                cell += f" ({sum(v <= ref[s] for s, v, _ in rows[m])}/{len(sses)})"
            cells.append(cell)
        print(f"| {p} | {b} | " + " | ".join(cells) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump([{"problem": p, "seed": s, "budget": b, "method": m, "sse": sse, "nfev": nfev}
                       for (p, s, b, m), sse, nfev in results], f)


if __name__ == "__main__":
    main()
