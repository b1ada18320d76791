"""The residual Jacobian for LM on a ~10,000-weight network with 2,000 residuals, against backward passes.

    python benchmarks/bench_lm_jacobian.py [--batch 32] [--dtype float32] [--repeats 3]

Network 100-98-1 with tanh (9,997 weights), 2,000 samples, one residual each. Reports the time
of ``residual_jacobian`` (forward included), the time of the ceil(2000/batch) forward+backward
passes that one epoch of mini-batch training over the same samples would take, and their
ratio (target: <= 3). Also times torch.func per-sample gradients (vmap of grad) as a peer and
the retained-graph reverse mode on a sample of rows, extrapolated.
"""
import argparse
import json
import time

import numpy as np

import retrograd as rg
from retrograd.optim.jacobian import residual_jacobian

N, D, H = 2000, 100, 98


def setup(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)).astype(dtype)
    y = rng.standard_normal((N, 1)).astype(dtype)
    a1, a2 = np.sqrt(6 / (D + H)), np.sqrt(6 / (H + 1))
    init = [rng.uniform(-a1, a1, (D, H)).astype(dtype), np.zeros(H, dtype), rng.uniform(-a2, a2, (H, 1)).astype(dtype),
            np.zeros(1, dtype)]
    return X, y, init


def net(params, x):
    return rg.tanh(x @ params[0] + params[1]) @ params[2] + params[3]


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="*", default=[32, 64, 128])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    X, y, init = setup(np.dtype(a.dtype))
    params = [rg.tensor(p, requires_grad=True) for p in init]
    n_weights = sum(p.size for p in init)
    Xt, yt = rg.tensor(X), rg.tensor(y)

    buf = [None]

    def jac():
        # as inside LevenbergMarquardt: row independence checked once, J's buffer reused
        buf[0] = residual_jacobian((net(params, Xt) - yt).reshape(-1), params, check=False, out=buf[0])
        return buf[0]
    J = jac().copy()
    t_jac, times = median_time(jac, a.repeats)
    t_fresh, _ = median_time(lambda: residual_jacobian((net(params, Xt) - yt).reshape(-1), params, check=False),
                             a.repeats)
    print(json.dumps({"workload": "lm_jacobian", "what": "per_sample_jacobian", "shape": list(J.shape),
                      "weights": n_weights, "dtype": a.dtype, "median_s": round(t_jac, 5),
                      "times_s": [round(t, 5) for t in times], "fresh_buffer_s": round(t_fresh, 5)}), flush=True)

    def jac_checked():
        return residual_jacobian((net(params, Xt) - yt).reshape(-1), params, check=True)
    t_chk, _ = median_time(jac_checked, a.repeats)
    print(json.dumps({"workload": "lm_jacobian", "what": "per_sample_jacobian_with_row_check",
                      "median_s": round(t_chk, 5)}), flush=True)

    for batch in a.batch:
        chunks = [(rg.tensor(X[i:i + batch]), rg.tensor(y[i:i + batch])) for i in range(0, N, batch)]

        def epoch_backward():
            for xb, yb in chunks:
                for p in params:
                    p.grad = None
                ((net(params, xb) - yb) ** 2).mean().backward()
        # interleave the two measurements so that load from other processes hits both alike
        epoch_backward()
        tj, tb = [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            jac()
            tj.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            epoch_backward()
            tb.append(time.perf_counter() - t0)
        print(json.dumps({"workload": "lm_jacobian", "what": "epoch_of_backward_passes", "batch": batch,
                          "passes": len(chunks), "median_s": round(float(np.median(tb)), 5),
                          "jacobian_median_s": round(float(np.median(tj)), 5),
                          "jacobian_over_epoch": round(float(np.median(tj) / np.median(tb)), 3)}), flush=True)

    # reverse mode, one retained-graph backward per residual, on 100 rows, scaled to 2000
    sub = rg.tensor(X[:100]), rg.tensor(y[:100])
    t_rev, _ = median_time(lambda: residual_jacobian((net(params, sub[0]) - sub[1]).reshape(-1), params,
                                                     method="reverse"), 1)
    print(json.dumps({"workload": "lm_jacobian", "what": "reverse_one_backward_per_row_extrapolated",
                      "median_s": round(t_rev * N / 100, 4), "ratio_to_per_sample": round(t_rev * N / 100 / t_jac, 1)}),
          flush=True)
    try:
        import torch
        from torch.func import functional_call, grad, vmap
    except ImportError:
        return
    torch.set_num_threads(2)
    tp = {k: torch.tensor(v) for k, v in zip(("W1", "b1", "W2", "b2"), init)}
    Xq, yq = torch.tensor(X), torch.tensor(y)

    def r1(p, x, t):
        return (torch.tanh(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"] - t).sum()

    def torch_jac():
        g = vmap(grad(r1), in_dims=(None, 0, 0))(tp, Xq, yq)
        return torch.cat([g[k].reshape(N, -1) for k in ("W1", "b1", "W2", "b2")], dim=1)
    Jt = torch_jac().numpy()
    tol = 1e-3 if a.dtype == "float32" else 1e-9
    agree = bool(np.allclose(Jt, J, rtol=tol, atol=tol))
    t_t, _ = median_time(torch_jac, a.repeats)
    print(json.dumps({"workload": "lm_jacobian", "framework": "torch.func vmap(grad)", "median_s": round(t_t, 5),
                      "ours_over_torch": round(t_jac / t_t, 3), "same_jacobian": agree}), flush=True)


if __name__ == "__main__":
    main()
