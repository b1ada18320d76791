"""`retrograd train`: resolve the config, load the data, build and fit the model, write the run directory."""
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from . import config as cfgmod
from . import setup
from .report import draw_run_plots, score
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


def default_run_dir(name):
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{name}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    return path


def run_train(config_path=None, overrides=None, quiet=False, out=print):
    """Train as configured; print what was done and where the results are. Returns the exit status."""
    import retrograd as rg
    config = cfgmod.load(config_path, overrides, preset=setup.with_preset)
    prepared = setup.prepare(config)
    loss_name = setup.resolve_loss(config, prepared.task)
    config["loss"]["name"] = loss_name
    threshold = setup.decision_threshold(config, loss_name)
    cascade = config["model"]["type"] == "cascade"
    model = None if cascade else setup.build_model(config, prepared.n_inputs, prepared.n_outputs)
    loss_fn = setup.build_loss(config, loss_name)
    optimizer = None if cascade else setup.build_optimizer(config, model)
    scheduler = None if cascade else setup.build_scheduler(config, optimizer)
    t = config["train"]
    callbacks, snapshots = [], None
    if prepared.n_inputs == 2 and prepared.task == "binary" and prepared.n_outputs == 1 and t["snapshots"]:
        snapshots = BoundarySnapshots(prepared.X_train, t["snapshots"], t["epochs"], threshold)
        callbacks.append(snapshots.callback)
    name = config["data"]["name"]
    arch = "-".join(str(w) for w in [prepared.n_inputs, *config["model"]["hidden"], prepared.n_outputs])
    examples = f"{name} ({prepared.task}, {len(prepared.X_train)} train / {len(prepared.X_test)} test examples)"
    start = time.perf_counter()
    if cascade:
        out(f"retrograd train: {examples}, cascade-correlation (up to {config['cascade']['max_hidden']} hidden "
            f"units), up to {t['epochs']} epochs")
        model, history = setup.train_cascade(config, prepared, callbacks)
    else:
        out(f"retrograd train: {examples}, network {arch} {config['model']['activation']}, loss {loss_name}, "
            f"optimizer {config['optimizer']['name']} {_hyper(config['optimizer'])}, {t['mode']} mode"
            + (f" (batch {t['batch_size']})" if t["mode"] == "minibatch" else "") + f", up to {t['epochs']} epochs")
        history = rg.fit(model, loss_fn, optimizer, (prepared.X_train, prepared.y_train), epochs=t["epochs"],
                         mode=t["mode"], batch_size=t["batch_size"], validation_split=t["validation_split"],
                         metrics=setup.metric_functions(config, prepared.task, threshold), callbacks=callbacks,
                         stop=setup.stop_rules(config, threshold), seed=t["seed"], quiet=quiet,
                         scheduler=scheduler)
    seconds = time.perf_counter() - start
    train_score, _ = score(model, loss_fn, prepared.X_train, prepared.y_train, prepared.task, threshold)
    test_score, test_out = score(model, loss_fn, prepared.X_test, prepared.y_test, prepared.task, threshold)
    directory = Path(config["output"]["dir"]) if config["output"]["dir"] else default_run_dir(name)
    config["output"]["dir"] = str(directory)
    info = {"dataset": name, "source": prepared.source, "task": prepared.task, "n_inputs": prepared.n_inputs,
            "n_outputs": prepared.n_outputs, "feature_names": prepared.feature_names,
            "image_shape": list(prepared.image_shape) if prepared.image_shape else None,
            "class_names": setup.CLASS_NAMES.get(name), "loss": loss_name,
            "threshold": threshold, "epochs": history.epochs, "stop_reason": history.stop_reason,
            "seconds": seconds, "train": train_score, "test": test_score, "retrograd": rg.__version__}
    save_run(directory, config, info, model, history, prepared.scaler)
    written = []
    if config["output"]["plots"]:
        frames = (snapshots.grid, snapshots.frames, prepared.X_train, prepared.y_train) if snapshots else None
        written = _plots(directory, history, info, model, prepared, test_out, frames, out,
                         gif=config["output"]["gif"])
    metric = "accuracy" if "accuracy" in test_score else "rmse"
    out(f"trained {history.epochs} epochs in {seconds:.1f} s"
        + (f" (stopped: {history.stop_reason})" if history.stop_reason else ""))
    out(f"train loss {train_score['loss']:.4g}, {metric} {train_score[metric]:.4f}; "
        f"test loss {test_score['loss']:.4g}, {metric} {test_score[metric]:.4f}"
        + (" (classic problem: the test set is the training set)" if name in setup.GENERATED else ""))
    files = ["config." + config["output"]["format"], "model.safetensors", "history.csv", "run.json"]
    files += [Path(p).name for p in written]
    out(f"results in {directory}/: {', '.join(files)}")
    return 0


def _plots(directory, history, info, model, prepared, test_out, frames, out, gif=False):
    try:
        return draw_run_plots(directory, history, info, model, prepared.X_test, prepared.y_test, test_out, frames,
                              gif=gif)
    except ImportError as exc:
        out(f"(no plots: {exc})")
        return []


def _hyper(section):
    items = [f"{k}={v}" for k, v in section.items() if k != "name"]
    return "(" + ", ".join(items) + ")" if items else "(defaults)"
