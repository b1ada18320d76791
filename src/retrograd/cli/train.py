"""`retrograd train`: resolve the config, load the data, build and fit the model, write the run directory."""
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from . import config as cfgmod
from . import setup
from .dataset import CLASS_NAMES, GENERATED, prepare
from .errors import TrainingDiverged
from .report import describe_score, draw_run_plots, score, worse_than_mean
from .rundir import save_run


class BoundarySnapshots:
    """A fit callback recording the model's output on a grid at a few epochs (2-D inputs, one output)."""

    def __init__(self, X, count, epochs, threshold):
        from .. import plot
        from ..training import Callback
        self.grid = plot.decision_grid(X, resolution=60)
        self.frames = []
        picks = np.unique(np.geomspace(1, epochs, num=max(count, 1)).astype(int)) if count else []
        self.epochs = set(int(e) for e in picks)
        self.threshold = threshold
        outer = self

        class _CB(Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch + 1 in outer.epochs or self.trainer.stop_training:
                    outer.record(self.trainer.model, epoch + 1)
        self.callback = _CB()

    def record(self, model, epoch):
        if self.frames and self.frames[-1][0] == f"epoch {epoch}":
            return
        out = setup.predict_outputs(model, self.grid[2].astype(np.float32))[:, 0]
        if self.threshold == 0.0:          # logits -> probability for the colour scale
            out = 1.0 / (1.0 + np.exp(-out))
        self.frames.append((f"epoch {epoch}", out))


class FiniteLossGuard:
    """Stops a run whose whole-set loss at the end of an epoch is not finite, restoring the weights
    of the last epoch whose loss was.

    The trainer guards each batch's loss and the weights; with finite weights the loss on the
    whole training set can still overflow (float32 outputs near 1e20 square to inf), and those
    weights are not "good" ones to keep.
    """

    def __init__(self) -> None:
        from ..training import Callback
        outer = self

        class _CB(Callback):
            def on_train_begin(self, logs=None):
                outer.good, outer.good_epoch = self.trainer.snapshot(), self.trainer.epoch

            def on_epoch_end(self, epoch, logs=None):
                loss = (logs or {}).get("loss")
                if loss is None or np.isfinite(loss):
                    outer.good, outer.good_epoch = self.trainer.snapshot(), epoch + 1
                    return
                trainer = self.trainer
                trainer.restore(outer.good)
                trainer.diverged = True
                trainer.stop_training = True
                trainer.stop_reason = (f"the loss on the training set is {loss} at the end of epoch {epoch + 1}: "
                                       f"training diverged; the weights were restored to those after epoch "
                                       f"{outer.good_epoch} (0 = initial). Lower the learning rate, standardise "
                                       "the inputs or clip gradients")
        self.callback = _CB()


def default_run_dir(name):
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def run_train(config_path=None, overrides=None, quiet=False, out=print, report=False, warn=None):
    """Train as configured; print what was done and where the results are. Returns the exit status.

    A run whose loss turns non-finite (or that the trainer finds diverging) still writes its run
    directory, with the last good weights, and then raises TrainingDiverged (exit status 1).
    ``report`` also writes report.html.
    """
    import retrograd as rg
    from ..training import Trainer
    from ..training.progress import ProgressBar
    warn = warn or _stderr
    config = cfgmod.load(config_path, overrides, preset=setup.with_preset)
    prepared = prepare(config)
    loss_name = setup.resolve_loss(config, prepared.task)
    config["loss"]["name"] = loss_name
    threshold = setup.decision_threshold(config, loss_name)
    cascade = config["model"]["type"] == "cascade"
    model = None if cascade else setup.build_model(config, prepared.n_inputs, prepared.n_outputs)
    loss_fn = setup.build_loss(config, loss_name)
    optimizer = None if cascade else setup.build_optimizer(config, model)
    scheduler = None if cascade else setup.build_scheduler(config, optimizer)
    t = config["train"]
    if cascade and t["precision"] != "float32":
        raise cfgmod.ConfigError(f"[train] precision = {t['precision']!r}: mixed precision is for the standard "
                                 "trainer; a cascade-correlation model trains in float32")
    from ..training.parameter_norms import ParameterNorms
    norms = ParameterNorms(every=max(1, t["epochs"] // 500))   # per-layer norms for report.html
    guard = FiniteLossGuard()
    # a cascade's parameters grow during training and it guards its own steps: neither callback applies
    callbacks, snapshots = ([] if cascade else [guard.callback, norms]), None
    if prepared.n_inputs == 2 and prepared.task == "binary" and prepared.n_outputs == 1 and t["snapshots"]:
        snapshots = BoundarySnapshots(prepared.X_train, t["snapshots"], t["epochs"], threshold)
        callbacks.append(snapshots.callback)
    name = config["data"]["name"]
    arch = "-".join(str(w) for w in [prepared.n_inputs, *config["model"]["hidden"], prepared.n_outputs])
    examples = f"{name} ({prepared.task}, {len(prepared.X_train)} train / {len(prepared.X_test)} test examples)"
    if cascade:
        out(f"retrograd train: {examples}, cascade-correlation (up to {config['cascade']['max_hidden']} hidden "
            f"units), up to {t['epochs']} epochs")
        if t["device"] != "cpu":
            out(f"note: cascade-correlation trains on the CPU (its trainer has no GPU path); device "
                f"{t['device']!r} is not used")
    else:
        out(f"retrograd train: {examples}, network {arch} {config['model']['activation']}, loss {loss_name}, "
            f"optimizer {config['optimizer']['name']} {_hyper(config['optimizer'])}, {t['mode']} mode"
            + (f" (batch {t['batch_size']})" if t["mode"] == "minibatch" else "") + f", up to {t['epochs']} epochs")
    out(f"task {prepared.task}: {prepared.task_reason}")
    scaling = prepared.target_scaling
    y_fit = prepared.y_train
    if scaling is not None:
        y_fit = scaling.scale(prepared.y_train).astype(prepared.X_train.dtype)
    start = time.perf_counter()
    if cascade:
        model, history, diverged = setup.train_cascade(config, prepared, y_fit, callbacks)
    else:
        every = config["output"]["log_every"] or "auto"
        trainer = Trainer(model, loss_fn, optimizer, mode=t["mode"], batch_size=t["batch_size"],
                          metrics=setup.metric_functions(config, prepared.task, threshold, loss_fn, scaling),
                          callbacks=callbacks, stop=setup.stop_rules(config, threshold), seed=t["seed"],
                          quiet=quiet, scheduler=scheduler, progress=None if quiet else ProgressBar(every=every),
                          precision=None if t["precision"] == "float32" else t["precision"],
                          device=t["device"])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # divergence is reported below
            history = trainer.fit((prepared.X_train, y_fit), epochs=t["epochs"],
                                  validation_split=t["validation_split"])
        diverged = bool(trainer.diverged)
    seconds = time.perf_counter() - start
    model.to("cpu")        # scored, saved and plotted on the host from here on (a no-op after CPU training)
    target_mean = None
    if prepared.task == "regression":
        target_mean = np.asarray(prepared.y_train, dtype=np.float64).reshape(len(prepared.y_train), -1).mean(axis=0)
    scored = dict(task=prepared.task, threshold=threshold, target_scaling=scaling, target_mean=target_mean)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        train_score, _ = score(model, loss_fn, prepared.X_train, prepared.y_train, **scored)
        test_score, test_out = score(model, loss_fn, prepared.X_test, prepared.y_test, **scored)
    directory = Path(config["output"]["dir"]) if config["output"]["dir"] else default_run_dir(name)
    config["output"]["dir"] = str(directory)
    info = {"dataset": name, "source": prepared.source, "task": prepared.task, "task_reason": prepared.task_reason,
            "n_inputs": prepared.n_inputs, "n_outputs": prepared.n_outputs, "feature_names": prepared.feature_names,
            "image_shape": list(prepared.image_shape) if prepared.image_shape else None,
            "class_names": CLASS_NAMES.get(name), "classes": prepared.classes, "loss": loss_name,
            "loss_reduction": getattr(loss_fn, "reduction", None),
            "target_scaling": scaling.to_json() if scaling is not None else None,
            "target_mean": target_mean.tolist() if target_mean is not None else None,
            "threshold": threshold, "epochs": history.epochs, "stop_reason": history.stop_reason,
            "diverged": diverged, "seconds": seconds, "train": train_score, "test": test_score,
            "retrograd": rg.__version__}
    save_run(directory, config, info, model, history, prepared.scaler)
    from .report_html import save_training_records, write_report
    records = save_training_records(directory, norms, snapshots)
    written = []
    if config["output"]["plots"]:
        frames = (snapshots.grid, snapshots.frames, prepared.X_train, prepared.y_train) if snapshots else None
        written = _plots(directory, history, info, model, prepared, test_out, frames, out,
                         gif=config["output"]["gif"])
    stopped = "diverged" if diverged else f"stopped: {history.stop_reason}"
    out(f"trained {history.epochs} epochs in {seconds:.1f} s" + (f" ({stopped})" if history.stop_reason else ""))
    unit = " (sums over the examples of each set)" if info["loss_reduction"] == "sum" else ""
    out(f"train {describe_score(train_score)}; test {describe_score(test_score)}{unit}"
        + (" (classic problem: the test set is the training set)" if name in GENERATED else ""))
    files = ["config." + config["output"]["format"], "model.safetensors", "history.csv", "run.json"]
    files += [Path(p).name for p in records + written]
    if report:
        files.append(write_report(directory).name)
    out(f"results in {directory}/: {', '.join(files)}")
    if diverged:
        raise TrainingDiverged(f"{history.stop_reason}. The run directory {directory}/ holds those weights")
    if worse_than_mean(test_score):
        warn(f"retrograd train: warning: the model does no better than predicting the training mean "
             f"(test rmse {test_score['rmse']:.4g} >= {test_score['baseline_rmse']:.4g}); try more epochs, "
             "another learning rate or a wider network")
    return 0


def _stderr(message):
    print(message, file=sys.stderr)


def _plots(directory, history, info, model, prepared, test_out, frames, out, gif=False):
    try:
        return draw_run_plots(directory, history, info, model, prepared.X_test, prepared.y_test, test_out, frames,
                              gif=gif, note=out)
    except ImportError as exc:
        out(f"(no plots: {exc})")
        return []


def _hyper(section):
    items = [f"{k}={v}" for k, v in section.items() if k != "name"]
    return "(" + ", ".join(items) + ")" if items else "(defaults)"
