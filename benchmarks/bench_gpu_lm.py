"""Levenberg–Marquardt on a 50,601-weight net with 20,000 samples: seconds per iteration on the GPU and the CPU.

    python benchmarks/bench_gpu_lm.py [--cpu-limit 120] [--out FILE.jsonl]

Net 50-200-200-1 (tanh), float32, a smooth regression target; ``rg.optim.
LevenbergMarquardt`` with its defaults. With fewer residuals (20,000) than
weights the step is solved in the dual form: J (20,000 x 50,601) from one
per-sample backward sweep, J Jᵀ, a Cholesky solve in float64.

* GPU: three iterations after one warm-up (the mean), all on the device.
* our CPU: the same iteration on the host, in a child process capped at
  ``--cpu-limit`` seconds (reported as ">limit" when it does not finish).
* a CPU trainlm-equivalent: MATLAB's trainlm forms the P x P matrix JᵀJ
  and factors it. At P = 50,601 that is 2 N P² + P³/3 = 1.5e14 operations,
  too long to run here, so it is timed on a 3,721-weight net (50-40-40-1, same
  N) and scaled by the operation count (the rate measured there); labelled
  as an estimate.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import retrograd as rg

N, D, HIDDEN = 20000, 50, (200, 200)
RESULTS = []
OUT_FILE = [None]      # --out: each line is appended as it is made, so a stage cut by its time limit keeps them


def emit(**fields):
    RESULTS.append(fields)
    line = json.dumps(fields)
    print(line, flush=True)
    if OUT_FILE[0]:
        with open(OUT_FILE[0], "a") as fh:
            fh.write(line + "\n")


def problem(hidden=HIDDEN, n=N):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D)).astype(np.float32)
    w = rng.standard_normal((D, 3)) / np.sqrt(D)
    y = (np.sin(X @ w[:, :1]) + 0.5 * np.tanh(X @ w[:, 1:2]) * (X @ w[:, 2:])).astype(np.float32)
    sizes = [D, *hidden, 1]
    layers = []
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(rg.nn.Linear(fi, fo, generator=i))
        if i < len(sizes) - 2:
            layers.append(rg.nn.Tanh())
    return rg.nn.Sequential(*layers), X, y


def lm_seconds_per_iteration(device, iterations, warmup=1):
    model, X, y = problem()
    opt = rg.optim.LevenbergMarquardt(model.parameters())
    model.to(device)
    x, t = rg.tensor(X, device=device), rg.tensor(y, device=device)

    def closure():
        return model(x) - t
    sync = (lambda: __import__("cupy").cuda.Device().synchronize()) if device != "cpu" else (lambda: None)
    for _ in range(warmup):
        opt.step(closure)
    sync()
    t0 = time.perf_counter()
    for _ in range(iterations):
        energy = opt.step(closure)
    sync()
    return (time.perf_counter() - t0) / iterations, model.num_parameters(), float(energy)


def trainlm_equivalent_small():
    """Seconds of JᵀJ + Cholesky solve (float64, as trainlm) at a 3,721-weight net, and its operation count."""
    from retrograd.optim.jacobian import residual_jacobian
    model, X, y = problem(hidden=(40, 40))
    r = model(rg.tensor(X)) - rg.tensor(y)
    J = residual_jacobian(r, list(model.parameters())).astype(np.float64)
    rv = r.data.reshape(-1).astype(np.float64)
    p = J.shape[1]
    t0 = time.perf_counter()
    A = J.T @ J
    A[np.diag_indices(p)] += 1e-3
    L = np.linalg.cholesky(A)
    np.linalg.solve(L.T, np.linalg.solve(L, J.T @ rv))
    seconds = time.perf_counter() - t0
    return seconds, p, 2.0 * N * p * p + p ** 3 / 3.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-limit", type=float, default=120.0, help="seconds allowed for one CPU iteration")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--child-cpu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    OUT_FILE[0] = args.out
    if args.child_cpu:                                      # one CPU iteration, in its own process
        s, p, e = lm_seconds_per_iteration("cpu", 1, warmup=0)
        print(json.dumps({"seconds": s, "weights": p}))
        return 0
    gpu = None
    if rg.gpu_available():
        gpu, weights, energy = lm_seconds_per_iteration("cuda", args.iterations)
        emit(workload="LM-50k", device="cuda", s_per_iteration=round(gpu, 4), weights=weights, samples=N,
             energy_after=round(energy, 4))
    else:
        emit(workload="LM-50k", device="cuda", skipped="no CuPy with a GPU")
    cpu = None
    try:
        proc = subprocess.run([sys.executable, __file__, "--child-cpu"], capture_output=True, text=True,
                              timeout=args.cpu_limit, env=dict(os.environ))
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        cpu = json.loads(line[-1])["seconds"] if line else None
        emit(workload="LM-50k", device="cpu", s_per_iteration=None if cpu is None else round(cpu, 3),
             note="first iteration (includes the one-off row-independence check)",
             error=None if cpu is not None else proc.stderr[-500:])
    except subprocess.TimeoutExpired:
        emit(workload="LM-50k", device="cpu", s_per_iteration=f">{args.cpu_limit:g}")
    small_s, small_p, small_ops = trainlm_equivalent_small()
    sizes = [D, *HIDDEN, 1]
    full_p = sum(fi * fo + fo for fi, fo in zip(sizes[:-1], sizes[1:]))
    full_ops = 2.0 * N * full_p * full_p + full_p ** 3 / 3.0
    estimate = small_s * full_ops / small_ops
    emit(workload="LM-50k", device="cpu", method="trainlm-equivalent (JᵀJ, P x P Cholesky, float64)",
         measured_at_weights=small_p, measured_s=round(small_s, 3), gflops=round(small_ops / small_s / 1e9, 1),
         estimated_s_per_iteration_at_50k=round(estimate, 1))
    if gpu is not None:
        emit(workload="LM-50k", summary=True, gpu_s=round(gpu, 4),
             speedup_vs_our_cpu=None if not isinstance(cpu, float) else round(cpu / gpu, 1),
             speedup_vs_trainlm_equivalent_estimate=round(estimate / gpu, 1), target=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
