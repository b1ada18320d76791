"""How far above its starting loss a run's loss goes: the survey behind fit's explosion rule.

``fit`` declares that a run's loss exploded when the training loss of two epochs in a row is
above ``divergence_factor`` (100) times the loss at the starting weights
(``retrograd.training.divergence``). For every run below this script records the epoch loss /
starting loss ratios r_1, r_2, ... and prints the largest single ratio ("spike") and the largest
level held two epochs running, max_t min(r_t, r_t+1) ("held"), which is what the rule tests:

1. every row of the optimizer tables in tests/optim (test_convergence.TABLE and
   test_interface.RESUMABLE), and Quickprop on Rosenbrock over 150 seeds (its parabola steps
   make the largest spikes seen): one full-batch step per "epoch", as fit runs them in batch mode;
2. every registered optimizer through ``rg.fit`` on digits (64-32-10 tanh, inputs in [0, 1], the
   optimizer's defaults; full-batch methods in batch mode, others in mini-batches of 32) and on
   a 1-10-1 sin fit (batch mode);
3. the shipped configs (examples/configs/*.toml) through ``retrograd train``;
4. SGD on digits at learning rates that do not train: lr=1e3 and 10 with inputs in [0, 1], and
   lr=1e3 and 100 with standardised inputs (what the CLI gives), three seeds each.

A run counts as one that trained when it ends below its starting loss. Prints one line per run
(Quickprop's 150 seeds as one summary line) and the largest "held" ratio of the runs that
trained. Takes a few minutes on two cores:

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
    """Record loss / reference for every epoch."""
    if self.reference:
        _seen.append(loss / self.reference)
    return _original_exploded(self, loss)


NEVER = 1e300          # a factor that never fires: every run is measured to its end
_original_init = divergence.DivergenceGuard.__init__


def _never_firing_init(self, factor=None):
    _original_init(self, NEVER)


divergence.DivergenceGuard.exploded = _recording_exploded
divergence.DivergenceGuard.__init__ = _never_firing_init


def summary(ratios):
    """(spike, held, final): the largest ratio, the largest held two epochs running, the last one."""
    r = np.asarray(ratios, dtype=np.float64)
    held = max(min(a, b) for a, b in zip(r[:-1], r[1:])) if len(r) > 1 else float("nan")
    return float(r.max()), float(held), float(r[-1])


def step_ratios(name, hyper, problem, seed, steps):
    """Loss at each step's start / loss at step 0 (what fit records in batch mode, one step an epoch)."""
    from problems import closure_for
    params, residuals, _ = problem(seed)
    opt = rg.optim.get(name, params, **hyper)
    closure = closure_for(opt, residuals)
    losses = [float(opt.step(closure)) for _ in range(steps)]
    return np.array(losses) / losses[0]


def table_runs():
    from problems import rosenbrock, xor
    from test_convergence import TABLE
    from test_interface import RESUMABLE
    for name, hyper, problem, seeds, budget, _tol, _need in TABLE:
        for seed in range(seeds):
            yield (f"table {name} {hyper or ''} {problem.__name__} seed {seed}",
                   step_ratios(name, hyper, problem, seed, budget))
    for name, hyper in RESUMABLE:
        yield f"resumable {name} {hyper or ''} xor seed 3", step_ratios(name, hyper, xor, 3, 10)
    runs = [summary(step_ratios("quickprop", {}, rosenbrock, seed, 1500)) for seed in range(150)]
    spikes, helds, finals = zip(*runs)
    print(f"quickprop on rosenbrock, 150 seeds x 1500 steps: all end below the start: {max(finals) < 1}; "
          f"spikes up to {max(spikes):.4g} (above 1000 in {sum(s > 1000 for s in spikes)}); "
          f"held up to {max(helds):.4g} (above 10 in {sum(h > 10 for h in helds)})")
    worst = int(np.argmax(helds))
    yield f"quickprop rosenbrock seed {worst} (the worst of 150)", step_ratios("quickprop", {}, rosenbrock, worst, 1500)


def fit_ratios(model, loss, opt, data, **kw):
    """Epoch loss / starting loss over one quiet ``rg.fit`` run."""
    _seen.clear()
    with contextlib.redirect_stderr(io.StringIO()), np.errstate(all="ignore"):
        rg.fit(model, loss, opt, data, quiet=True, **kw)
    return list(_seen)


def _digits(standardise=False):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-12) if standardise else X / 16.0
    return X.astype(np.float32), y


def _mlp(sizes, dtype=np.float32):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [rg.nn.Linear(a, b, dtype=dtype)] + ([rg.nn.Tanh()] if i < len(sizes) - 2 else [])
    return rg.nn.Sequential(*layers)


def fit_runs():
    X, y = _digits()
    x = np.linspace(-np.pi, np.pi, 100)[:, None]
    for name in rg.optim.names():
        cls = rg.optim.get_class(name)
        hyper = {"line_search_fn": "strong_wolfe"} if name == "lbfgs" else {}
        if cls.closure_kind != "residuals":   # LM, BR, Hessian-free: their Jacobians on digits are slow
            rg.manual_seed(0)
            model = _mlp([64, 32, 10])
            mode = "batch" if cls.full_batch else "minibatch"
            yield (f"fit digits {name} ({mode})",
                   fit_ratios(model, "cross_entropy", rg.optim.get(name, model.parameters(), **hyper),
                              (X, y), epochs=30, mode=mode, seed=1))
        rg.manual_seed(0)
        model = _mlp([1, 10, 1], np.float64)
        yield (f"fit sin 1-10-1 {name} (batch)",
               fit_ratios(model, "mse", rg.optim.get(name, model.parameters(), **hyper), (x, np.sin(x)),
                          epochs=200, mode="batch"))


def config_runs():
    from retrograd.cli import main
    for path in sorted(glob.glob(str(ROOT / "examples" / "configs" / "*.toml"))):
        _seen.clear()
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            main(["train", path, "--out", os.path.join(out, "run"), "--no-plots", "--quiet"])
        yield f"config {Path(path).name}", list(_seen)


def failing_runs():
    for standardise, rates in ((False, (1e3, 10.0)), (True, (1e3, 100.0))):
        X, y = _digits(standardise)
        for lr in rates:
            for seed in range(3):
                rg.manual_seed(seed)
                model = _mlp([64, 32, 10])
                yield (f"fit digits sgd lr={lr:g} {'standardised' if standardise else '[0, 1]'} seed {seed}",
                       fit_ratios(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=lr), (X, y),
                                  epochs=10, seed=seed))


def main():
    """Print every run as (spike, held, final) and the largest held ratio of the runs that trained."""
    trained, failed = [], []
    print(f"{'spike':>10} {'held':>10} {'final':>10}  (epoch loss / starting loss)")
    for group in (table_runs(), fit_runs(), config_runs(), failing_runs()):
        for label, ratios in group:
            spike, held, final = summary(ratios)
            print(f"{spike:10.4g} {held:10.4g} {final:10.4g}  {label}")
            (trained if final < 1.0 else failed).append((held, label))
    print(f"\n{len(trained)} runs ended below their starting loss; the largest ratio held two epochs "
          f"running among them: {max(trained)[0]:.4g} ({max(trained)[1]})")
    print("largest eight:\n" + "\n".join(f"  {h:.4g}  {label}" for h, label in sorted(trained)[::-1][:8]))
    print(f"{len(failed)} runs did not end below their starting loss (held ratio):\n"
          + "\n".join(f"  {h:.4g}  {label}" for h, label in sorted(failed)[::-1]))


if __name__ == "__main__":
    main()
