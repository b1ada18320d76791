"""How far above its starting loss a healthy run's loss goes: the survey behind fit's divergence factor.

``fit`` declares a run diverged when an epoch's training loss exceeds ``divergence_factor`` (1000)
times the loss at the starting weights (``retrograd.training.divergence``). This script measures
the largest ratio epoch loss / starting loss in runs that are meant to train well:

1. every row of the optimizer tables in tests/optim (test_convergence.TABLE and
   test_interface.RESUMABLE): one full-batch step per "epoch", loss at each step / loss at step 0;
2. every registered optimizer through ``rg.fit`` on digits (64-32-10 tanh, defaults of the
   optimizer; full-batch methods in batch mode, others in mini-batches of 32) and on a 1-10-1
   sin fit (every optimizer, batch mode);
3. the shipped configs (examples/configs/*.toml) through ``retrograd train``;

and, for contrast, SGD on digits at learning rates that diverge. A run counts as healthy when
it ends below its starting loss. Prints one line per run and the largest healthy ratio. Takes
about a minute on two cores:

    PYTHONPATH=src python benchmarks/divergence_survey.py
"""
import contextlib
import glob
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "optim"))

import retrograd as rg  # noqa: E402
from retrograd.training import divergence  # noqa: E402

_seen = []
_original_exploded = divergence.DivergenceGuard.exploded


def _recording_exploded(self, loss):
    """Record loss / reference for every epoch instead of stopping (the factor is set huge below)."""
    if self.reference:
        _seen.append(loss / self.reference)
    return _original_exploded(self, loss)


divergence.DivergenceGuard.exploded = _recording_exploded
HUGE = 1e300   # never stop: measure the whole run


def table_rows():
    """Rows of the optimizer tables: (label, name, hyper, problem, seed, steps)."""
    from test_convergence import TABLE
    from test_interface import RESUMABLE
    from problems import xor
    rows = []
    for name, hyper, problem, seeds, budget, _tol, _need in TABLE:
        for seed in range(seeds):
            rows.append((f"table {name} {hyper or ''} {problem.__name__} seed {seed}", name, hyper,
                         problem, seed, budget))
    for name, hyper in RESUMABLE:
        rows.append((f"resumable {name} {hyper or ''} xor seed 3", name, hyper, xor, 3, 10))
    return rows


def step_ratio(name, hyper, problem, seed, steps):
    """Largest loss at a step's start / loss at step 0, as fit records it in batch mode."""
    from problems import closure_for
    params, residuals, _ = problem(seed)
    opt = rg.optim.get(name, params, **hyper)
    closure = closure_for(opt, residuals)
    losses = []
    for _ in range(steps):
        losses.append(float(opt.step(closure)))
    first = losses[0]
    return (max(losses) / first if first > 0 else float("nan")), losses[-1] / first


def fit_ratio(model, loss, opt, data, **kw):
    """Largest epoch loss / starting loss over one quiet ``rg.fit`` run."""
    _seen.clear()
    with contextlib.redirect_stderr(io.StringIO()):
        rg.fit(model, loss, opt, data, quiet=True, divergence_factor=HUGE, **kw)
    return (max(_seen) if _seen else float("nan")), (_seen[-1] if _seen else float("nan"))


def digits_runs():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    for name in rg.optim.names():
        cls = rg.optim.get_class(name)
        if cls.closure_kind == "residuals":
            continue            # LM, BR, Hessian-free: the sin fit below (their Jacobians on digits are slow)
        rg.manual_seed(0)
        model = rg.nn.Sequential(rg.nn.Linear(64, 32), rg.nn.Tanh(), rg.nn.Linear(32, 10))
        hyper = {"line_search_fn": "strong_wolfe"} if name == "lbfgs" else {}
        opt = rg.optim.get(name, model.parameters(), **hyper)
        mode = "batch" if cls.full_batch else "minibatch"
        ratio, last = fit_ratio(model, "cross_entropy", opt, (X, y), epochs=30, mode=mode, seed=1)
        yield f"fit digits {name} ({mode})", ratio, last


def sin_runs():
    x = np.linspace(-np.pi, np.pi, 100, dtype=np.float64)[:, None]
    t = np.sin(x)
    for name in rg.optim.names():
        rg.manual_seed(0)
        model = rg.nn.Sequential(rg.nn.Linear(1, 10, dtype=np.float64), rg.nn.Tanh(),
                                 rg.nn.Linear(10, 1, dtype=np.float64))
        hyper = {"line_search_fn": "strong_wolfe"} if name == "lbfgs" else {}
        opt = rg.optim.get(name, model.parameters(), **hyper)
        ratio, last = fit_ratio(model, "mse", opt, (x, t), epochs=200, mode="batch")
        yield f"fit sin 1-10-1 {name} (batch)", ratio, last


def config_runs():
    from retrograd.cli import main
    for path in sorted(glob.glob(str(ROOT / "examples" / "configs" / "*.toml"))):
        _seen.clear()
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            original = divergence.DEFAULT_FACTOR
            main(["train", path, "--out", os.path.join(out, "run"), "--no-plots", "--quiet"])
            assert original == divergence.DEFAULT_FACTOR
        yield f"config {Path(path).name}", max(_seen), _seen[-1]


def diverging_runs():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    for lr in (1e3, 10.0):
        rg.manual_seed(0)
        model = rg.nn.Sequential(rg.nn.Linear(64, 32), rg.nn.Tanh(), rg.nn.Linear(32, 10))
        ratio, last = fit_ratio(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=lr),
                                (X, y), epochs=10, seed=1)
        yield f"fit digits sgd lr={lr:g}", ratio, last


def main():
    """Print every run as (largest ratio, final ratio) and the largest ratio of the healthy ones."""
    runs = [(label, *step_ratio(name, hyper, problem, seed, steps))
            for label, name, hyper, problem, seed, steps in table_rows()]
    for group in (digits_runs(), sin_runs(), config_runs(), diverging_runs()):
        runs.extend(group)
    healthy, failed = [], []
    print(f"{'largest':>10} {'final':>10}  (epoch loss / starting loss)")
    for label, largest, final in runs:
        print(f"{largest:10.4g} {final:10.4g}  {label}")
        # healthy: it ended below where it started; the others did not train
        (healthy if final < 1.0 else failed).append((largest, label))
    worst = max(healthy)
    print(f"\n{len(healthy)} runs ended below their starting loss; the largest ratio among them "
          f"is {worst[0]:.4g} ({worst[1]})")
    print("largest eight:\n" + "\n".join(f"  {r:.4g}  {label}" for r, label in sorted(healthy)[::-1][:8]))
    print(f"{len(failed)} runs did not end below their starting loss:\n"
          + "\n".join(f"  {r:.4g}  {label}" for r, label in sorted(failed)[::-1]))


if __name__ == "__main__":
    main()
