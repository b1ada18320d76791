"""W3x16, W2, W4 and W5 on the GPU: retrograd on CuPy against PyTorch eager CUDA, in the same process.

    python benchmarks/bench_gpu.py [--quick] [--out FILE.jsonl]

W3x16 is W3 (784-1024-1024-10 ReLU, softmax cross-entropy, SGD 0.01/0.9, no
shuffle) with batches of 4096. Each workload runs as a hand-written loop in
both libraries (zero_grad, forward, loss, backward, step; the data on the
GPU, the losses kept on the GPU until the end, as the CPU peers do), with the
same data, initial values and shuffles (gpu_workloads.py); W3x16 also runs
through ``rg.fit(device='cuda')``, whose per-batch loss is read on the host.
Timing: a warm-up (kernels compiled), then the median of 3 timed runs, each
ended by a device synchronisation. Prints one JSON line per measurement and a
summary line per workload with ``ratio_vs_torch`` (our samples/s over
torch's; the target for W3x16 is at least 0.9). Needs CuPy and a GPU; torch
with CUDA is optional (without it only our figures are printed).
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gpu_workloads as W  # noqa: E402

import retrograd as rg  # noqa: E402

RESULTS = []
OUT_FILE = [None]      # --out: each line is appended as it is made, so a stage cut by its time limit keeps them


def emit(**fields):
    RESULTS.append(fields)
    line = json.dumps(fields)
    print(line, flush=True)
    if OUT_FILE[0]:
        with open(OUT_FILE[0], "a") as fh:
            fh.write(line + "\n")


def _cupy_sync():
    import cupy
    cupy.cuda.Device().synchronize()


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def timed(run, sync, repeats=3):
    """Median seconds of ``run()`` (each ended by ``sync()``), after one warm-up run."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ----------------------------------------------------------------------------- retrograd


def rg_mlp(sizes, act, arrays):
    layers = []
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(rg.nn.Linear(fi, fo))
        if i < len(sizes) - 2:
            layers.append(act())
    model = rg.nn.Sequential(*layers)
    for p, a in zip(model.parameters(), arrays):
        p.data[...] = a
    return model.to("cuda")


def rg_loop(model, opt, batches, loss_fn):
    """Train over (x, y) device-tensor pairs; the losses stay on the GPU (one host read at the end)."""
    losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.data)
    return losses


def torch_mlp(torch, sizes, act, arrays):
    nn = torch.nn
    layers = []
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(fi, fo)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(arrays[2 * i].T)))
            lin.bias.copy_(torch.from_numpy(arrays[2 * i + 1]))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers).cuda()


def torch_loop(torch, model, opt, batches, loss_fn):
    losses = []
    for xb, yb in batches:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses


# ----------------------------------------------------------------------------- workloads


def w3x16(torch, epochs):
    X, y = W.w3_data()
    B, n = W.W3X16_BATCH, W.W3_N
    samples = epochs * n
    init = W.glorot_mlp(W.W3_SIZES, W.W3_SEED)
    Xd, yd = rg.tensor(X, device="cuda"), rg.tensor(y, device="cuda")
    batches = [(Xd[i:i + B], yd[i:i + B]) for i in range(0, n, B)] * epochs
    model = rg_mlp(W.W3_SIZES, rg.nn.ReLU, init)
    loss_fn = rg.nn.CrossEntropyLoss()
    opt = rg.optim.SGD(model.parameters(), lr=W.W3_LR, momentum=W.W3_MOMENTUM)
    last = {}

    def ours():
        last["losses"] = rg_loop(model, opt, batches, loss_fn)
    s = timed(ours, _cupy_sync)
    loss32 = float(np.mean([float(v) for v in last["losses"][-32:]]))
    emit(workload="W3x16", framework="retrograd-cuda", samples_per_s=round(samples / s, 1), seconds=round(s, 4),
         loss_last32=round(loss32, 4))

    fit_model = rg_mlp(W.W3_SIZES, rg.nn.ReLU, init)

    def through_fit():
        fit_opt = rg.optim.SGD(fit_model.parameters(), lr=W.W3_LR, momentum=W.W3_MOMENTUM)
        rg.fit(fit_model, "cross_entropy", fit_opt, (X, y), epochs=epochs, batch_size=B, shuffle=False,
               quiet=True, device="cuda", train_metrics=False, nan_guard=False)
    s_fit = timed(through_fit, _cupy_sync, repeats=1)
    emit(workload="W3x16", framework="retrograd-cuda-fit", samples_per_s=round(samples / s_fit, 1),
         seconds=round(s_fit, 4), note="includes moving the data to the GPU and a host read per batch")
    if torch is None:
        return samples / s, None
    tm = torch_mlp(torch, W.W3_SIZES, torch.nn.ReLU, init)
    Xt, yt = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
    tb = [(Xt[i:i + B], yt[i:i + B]) for i in range(0, n, B)] * epochs
    topt = torch.optim.SGD(tm.parameters(), lr=W.W3_LR, momentum=W.W3_MOMENTUM)
    tloss = torch.nn.CrossEntropyLoss()
    t = timed(lambda: torch_loop(torch, tm, topt, tb, tloss), torch.cuda.synchronize)
    emit(workload="W3x16", framework="torch-cuda", samples_per_s=round(samples / t, 1), seconds=round(t, 4))
    return samples / s, samples / t


def w2(torch, epochs):
    Xtr, Xte, ytr, yte = W.digits_split()
    n, B = len(Xtr), W.W2_BATCH
    perms = W.permutations(n, epochs)
    init = W.glorot_mlp(W.W2_SIZES, W.W2_SEED)
    Xd, yd = rg.tensor(Xtr, device="cuda"), rg.tensor(ytr, device="cuda")
    model = rg_mlp(W.W2_SIZES, rg.nn.Tanh, init)
    loss_fn = rg.nn.CrossEntropyLoss()
    opt = rg.optim.SGD(model.parameters(), lr=W.W2_LR, momentum=W.W2_MOMENTUM)
    perms_d = [rg.tensor(p, device="cuda") for p in perms]

    def ours():
        for p in perms_d:
            Xe, ye = Xd[p], yd[p]
            rg_loop(model, opt, [(Xe[i:i + B], ye[i:i + B]) for i in range(0, n, B)], loss_fn)
    s = timed(ours, _cupy_sync)
    samples = epochs * n
    emit(workload="W2", framework="retrograd-cuda", samples_per_s=round(samples / s, 1),
         s_per_epoch=round(s / epochs, 5))
    if torch is None:
        return samples / s, None
    tm = torch_mlp(torch, W.W2_SIZES, torch.nn.Tanh, init)
    Xt, yt = torch.from_numpy(Xtr).cuda(), torch.from_numpy(ytr).cuda()
    topt = torch.optim.SGD(tm.parameters(), lr=W.W2_LR, momentum=W.W2_MOMENTUM)
    tloss = torch.nn.CrossEntropyLoss()
    perms_t = [torch.from_numpy(p).cuda() for p in perms]

    def theirs():
        for p in perms_t:
            Xe, ye = Xt[p], yt[p]
            torch_loop(torch, tm, topt, [(Xe[i:i + B], ye[i:i + B]) for i in range(0, n, B)], tloss)
    t = timed(theirs, torch.cuda.synchronize)
    emit(workload="W2", framework="torch-cuda", samples_per_s=round(samples / t, 1), s_per_epoch=round(t / epochs, 5))
    return samples / s, samples / t


class _RgLSTMNet(rg.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = rg.nn.LSTM(W.W4_IN, W.W4_H)
        self.head = rg.nn.Linear(W.W4_H, W.W4_C)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[-1])


def w4(torch, steps):
    X, y = W.w4_data(steps)
    Wih, Whh, bih, bhh, Wo, bo = W.w4_init()
    model = _RgLSTMNet()
    model.load_state_dict({"lstm.weight_ih_l0": Wih, "lstm.weight_hh_l0": Whh, "lstm.bias_ih_l0": bih,
                           "lstm.bias_hh_l0": bhh, "head.weight": np.ascontiguousarray(Wo.T), "head.bias": bo})
    model.to("cuda")
    opt = rg.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(rg.tensor(X[s], device="cuda"), rg.tensor(y[s], device="cuda")) for s in range(steps)]
    s = timed(lambda: rg_loop(model, opt, batches, rg.nn.CrossEntropyLoss()), _cupy_sync)
    emit(workload="W4", framework="retrograd-cuda", steps_per_s=round(steps / s, 2))
    if torch is None:
        return steps / s, None

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(W.W4_IN, W.W4_H)
            self.head = torch.nn.Linear(W.W4_H, W.W4_C)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[-1])
    tm = Net()
    with torch.no_grad():
        for name, v in (("weight_ih_l0", Wih), ("weight_hh_l0", Whh), ("bias_ih_l0", bih), ("bias_hh_l0", bhh)):
            getattr(tm.lstm, name).copy_(torch.from_numpy(v))
        tm.head.weight.copy_(torch.from_numpy(Wo))
        tm.head.bias.copy_(torch.from_numpy(bo))
    tm = tm.cuda()
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    tb = [(torch.from_numpy(X[s]).cuda(), torch.from_numpy(y[s]).cuda()) for s in range(steps)]
    t = timed(lambda: torch_loop(torch, tm, topt, tb, torch.nn.CrossEntropyLoss()), torch.cuda.synchronize)
    emit(workload="W4", framework="torch-cuda", steps_per_s=round(steps / t, 2))
    return steps / s, steps / t


def w5(torch, epochs):
    Xtr, Xte, ytr, yte = W.digits_split()
    Xtr = Xtr.reshape(-1, 1, 8, 8)
    n, B = len(Xtr), W.W5_BATCH
    perms = W.permutations(n, epochs)
    w1, b1, w2_, b2, wf, bf = W.w5_init()
    nn = rg.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 10))
    model.load_state_dict({"0.weight": w1, "0.bias": b1, "2.weight": w2_, "2.bias": b2,
                           "6.weight": np.ascontiguousarray(wf.T), "6.bias": bf})
    model.to("cuda")
    opt = rg.optim.Adam(model.parameters(), lr=W.W5_LR)
    Xd, yd = rg.tensor(Xtr, device="cuda"), rg.tensor(ytr, device="cuda")
    perms_d = [rg.tensor(p, device="cuda") for p in perms]
    loss_fn = nn.CrossEntropyLoss()

    def ours():
        for p in perms_d:
            Xe, ye = Xd[p], yd[p]
            rg_loop(model, opt, [(Xe[i:i + B], ye[i:i + B]) for i in range(0, n, B)], loss_fn)
    s = timed(ours, _cupy_sync)
    samples = epochs * n
    emit(workload="W5", framework="retrograd-cuda", samples_per_s=round(samples / s, 1),
         s_per_epoch=round(s / epochs, 5))
    if torch is None:
        return samples / s, None
    tnn = torch.nn
    tm = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(),
                        tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(512, 10))
    with torch.no_grad():
        for layer, (w, b) in zip((tm[0], tm[2], tm[6]), ((w1, b1), (w2_, b2), (wf, bf))):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    tm = tm.cuda()
    topt = torch.optim.Adam(tm.parameters(), lr=W.W5_LR)
    Xt, yt = torch.from_numpy(Xtr).cuda(), torch.from_numpy(ytr).cuda()
    perms_t = [torch.from_numpy(p).cuda() for p in perms]
    tloss = tnn.CrossEntropyLoss()

    def theirs():
        for p in perms_t:
            Xe, ye = Xt[p], yt[p]
            torch_loop(torch, tm, topt, [(Xe[i:i + B], ye[i:i + B]) for i in range(0, n, B)], tloss)
    t = timed(theirs, torch.cuda.synchronize)
    emit(workload="W5", framework="torch-cuda", samples_per_s=round(samples / t, 1), s_per_epoch=round(t / epochs, 5))
    return samples / s, samples / t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and steps (the device check)")
    parser.add_argument("--only", nargs="*", default=["W3x16", "W2", "W4", "W5"])
    parser.add_argument("--out", help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    OUT_FILE[0] = args.out
    if not rg.gpu_available():
        print(json.dumps({"skipped": "no CuPy with a GPU"}))
        return 0
    torch = _torch()
    import cupy
    emit(device=cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(), cupy=cupy.__version__,
         torch=None if torch is None else torch.__version__)
    sizes = {"W3x16": 2 if args.quick else 5, "W2": 2 if args.quick else 10, "W4": 40 if args.quick else 200,
             "W5": 2 if args.quick else 10}
    runs = {"W3x16": w3x16, "W2": w2, "W4": w4, "W5": w5}
    for name in args.only:
        try:
            ours, theirs = runs[name](torch, sizes[name])
        except Exception as exc:  # noqa: BLE001 - one workload's failure must not hide the others
            emit(workload=name, error=f"{type(exc).__name__}: {exc}")
            continue
        emit(workload=name, summary=True, ratio_vs_torch=None if theirs is None else round(ours / theirs, 3),
             target=0.9 if name == "W3x16" else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
