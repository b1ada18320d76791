"""W4's floor for the NumPy LSTM loops: the time of the work they cannot avoid, per training step.

    python benchmarks/bench_w4_floor.py [--repeats 200] [--json]

An LSTM training step on W4 (T=50, B=32, in=32, H=128, float32) must do, at
the least:

* per time step, forward: one (B, H) x (H, 4H) product with W_hh, then one
  exp over the 4H*B gate pre-activations (one exp covers the sigmoids and
  tanh(g) by tanh(z) = 2 sigmoid(2z) - 1) and one tanh over H*B for tanh(c);
* per time step, backward: one (B, 4H) x (4H, H) product with W_hh (49: the
  first step's feeds only dh0, which W4 does not need);
* once: the input projection x @ [W_ih, b] (T*B, in+1) x (in+1, 4H) and the
  weight gradients dG^T [h_prev, x, 1] (4H, T*B) x (T*B, H+in+1).

Each is timed alone (min over many repeats: the machine is shared, and the
minimum is the least disturbed) in every orientation on offer -- row-major
``h @ W^T``, feature-major ``W @ h^T``, SciPy's ``sgemm`` accumulating with
beta=1 straight into a preloaded slice (when SciPy is installed) -- with 1 and
with 2 BLAS threads. The floor sums the best of each; elementwise work
(gate products, cell update, the backward's local derivatives), Python and
the rest of the step (head, loss, Adam) come on top of it.
"""
import argparse
import json
import os
import time

import numpy as np

T, B, N_IN, H = 50, 32, 32, 128
TARGET_MS = 1000 / (1.5 * 99)          # 1.5x torch eager's ~99 steps/s on this machine


def best_us(fn, repeats, inner=20):
    """Min over ``repeats`` of the mean time of ``inner`` back-to-back calls, in microseconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best * 1e6


def gemm_cases():
    """name -> callable, for every way of doing each unavoidable product."""
    rng = np.random.default_rng(0)
    f32 = np.float32
    w_hh = rng.standard_normal((4 * H, H), dtype=f32)           # PyTorch layout (4H, H)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    h = rng.standard_normal((B, H), dtype=f32)
    h_t = np.ascontiguousarray(h.T)
    pre = rng.standard_normal((B, 4 * H), dtype=f32)
    pre_t = rng.standard_normal((4 * H, B), dtype=f32)
    dgate = rng.standard_normal((B, 4 * H), dtype=f32)
    dgate_t = rng.standard_normal((4 * H, B), dtype=f32)
    dh = np.empty((B, H), dtype=f32)
    dh_t = np.empty((H, B), dtype=f32)
    x1 = rng.standard_normal((T * B, N_IN + 1), dtype=f32)
    w_in = rng.standard_normal((4 * H, N_IN + 1), dtype=f32)
    xw = np.empty((T * B, 4 * H), dtype=f32)
    dgates = rng.standard_normal((4 * H, T * B), dtype=f32)
    z = rng.standard_normal((T * B, H + N_IN + 1), dtype=f32)
    dw = np.empty((4 * H, H + N_IN + 1), dtype=f32)
    cases = {
        "fwd_step": {
            "np h @ W_hh^T (row-major)": lambda: np.matmul(h, w_hh_t, out=pre),
            "np W_hh @ h^T (feature-major)": lambda: np.matmul(w_hh, h_t, out=pre_t),
        },
        "bwd_step": {
            "np dG @ W_hh (row-major)": lambda: np.matmul(dgate, w_hh, out=dh),
            "np W_hh^T @ dG^T (feature-major)": lambda: np.matmul(w_hh.T, dgate_t, out=dh_t),
        },
        "input_projection": {
            "np [x,1] @ [W_ih,b]^T": lambda: np.matmul(x1, w_in.T, out=xw),
        },
        "weight_grads": {
            "np dG^T [h_prev, x, 1]": lambda: np.matmul(dgates, z, out=dw),
        },
    }
    try:
        from scipy.linalg import blas
    except ImportError:
        return cases
    # Fortran-ordered views of the row-major arrays, so that f2py copies nothing:
    # pre^T = W_hh h^T accumulates (beta=1) into pre, preloaded with the input projection
    cases["fwd_step"]["scipy sgemm beta=1 into the preloaded slice"] = (
        lambda: blas.sgemm(1.0, w_hh.T, h.T, beta=1.0, c=pre.T, trans_a=1, overwrite_c=1))
    cases["bwd_step"]["scipy sgemm (W_hh^T dG^T)"] = (
        lambda: blas.sgemm(1.0, w_hh.T, dgate.T, c=dh.T, overwrite_c=1))
    cases["weight_grads"]["scipy sgemm"] = (
        lambda: blas.sgemm(1.0, z.T, dgates.T, c=dw.T, overwrite_c=1))
    return cases


def transcendental_cases():
    rng = np.random.default_rng(1)
    gates = rng.standard_normal((4 * H, B), dtype=np.float32)
    cell = rng.standard_normal((H, B), dtype=np.float32)
    g_out, c_out = np.empty_like(gates), np.empty_like(cell)
    return {
        "exp over the gates (4H*B)": lambda: np.exp(gates, out=g_out),
        "tanh over the cell (H*B)": lambda: np.tanh(cell, out=c_out),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    a = p.parse_args()
    from retrograd.accel.blas import blas_threads
    load = os.getloadavg()[0]
    results = {}
    for threads in (1, 2):
        with blas_threads(threads):
            for group, variants in gemm_cases().items():
                for name, fn in variants.items():
                    reps = a.repeats if group.endswith("step") else max(a.repeats // 10, 5)
                    inner = 20 if group.endswith("step") else 2
                    results[(group, name, threads)] = best_us(fn, reps, inner)
    trans = {name: best_us(fn, a.repeats) for name, fn in transcendental_cases().items()}
    per_step_ewise = sum(trans.values())
    floors = {}
    for threads in (1, 2):
        best = {g: min(v for (gg, _, t), v in results.items() if gg == g and t == threads)
                for g in ("fwd_step", "bwd_step", "input_projection", "weight_grads")}
        gemm_ms = (T * best["fwd_step"] + (T - 1) * best["bwd_step"]
                   + best["input_projection"] + best["weight_grads"]) / 1000
        floors[threads] = {"gemm_ms": round(gemm_ms, 2),
                           "transcendental_ms": round(T * per_step_ewise / 1000, 2),
                           "floor_ms": round(gemm_ms + T * per_step_ewise / 1000, 2),
                           "best_us": {k: round(v, 1) for k, v in best.items()}}
    if a.json:
        print(json.dumps({"workload": "W4", "floor": floors, "target_ms": round(TARGET_MS, 2),
                          "load": round(load, 2)}))
        return
    print(f"load average at start: {load:.2f} (2 cores)")
    for (group, name, threads), us in results.items():
        print(f"  {group:17s} {threads} thr  {us:8.1f} us  {name}")
    for name, us in trans.items():
        print(f"  {'per step':17s}        {us:8.1f} us  {name}")
    for threads, f in floors.items():
        print(f"floor with {threads} BLAS thread(s): GEMMs {f['gemm_ms']} ms + transcendentals "
              f"{f['transcendental_ms']} ms = {f['floor_ms']} ms per step "
              f"(target {TARGET_MS:.1f} ms)")


if __name__ == "__main__":
    main()
