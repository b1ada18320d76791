"""From a validated config to the pieces of a run: dataset presets, model, loss, optimizer, schedule, stop rules.

The data themselves (loading, task, split, scaling) are prepared in ``dataset.py``.
"""
import copy
from typing import Callable

import numpy as np

from .config import ConfigError

# Settings that suit each classic small problem better than the general defaults; applied
# before the user's config, so anything given explicitly wins, and written to the resolved config.
PRESETS = {
    "xor": {"model": {"hidden": [4]}, "train": {"epochs": 1000, "mode": "batch"},
            "optimizer": {"name": "adam", "lr": 0.05}, "stop": {"goal": 0.01}},
    "parity": {"model": {"hidden": [16]}, "train": {"epochs": 1000, "mode": "batch"},
               "optimizer": {"name": "adam", "lr": 0.02}, "stop": {"all_correct": True}},
    "symmetry": {"model": {"hidden": [8]}, "train": {"epochs": 1000, "mode": "batch"},
                 "optimizer": {"name": "adam", "lr": 0.02}, "stop": {"all_correct": True}},
    "encoder": {"model": {"hidden": [3]}, "train": {"epochs": 2000, "mode": "batch"},
                "optimizer": {"name": "adam", "lr": 0.05}, "stop": {"all_correct": True}},
    "two_spirals": {"model": {"hidden": [64, 64]}, "train": {"epochs": 1500, "mode": "batch"},
                    "optimizer": {"name": "adam", "lr": 0.01}, "stop": {"all_correct": True}},
    "mnist1d": {"model": {"hidden": [100, 100], "activation": "relu"},
                "train": {"epochs": 150, "batch_size": 100}, "optimizer": {"name": "adam", "lr": 0.01}},
    "fashion_mnist": {"model": {"hidden": [128], "activation": "relu"}, "train": {"epochs": 5, "batch_size": 128}},
}


def with_preset(base, name):
    """``base`` with the dataset's PRESETS merged in."""
    config = copy.deepcopy(base)
    for section, values in PRESETS.get(name, {}).items():
        if section in ("optimizer", "scheduler", "loss") and values.get("name") != config[section].get("name"):
            config[section] = {}
        config[section].update(copy.deepcopy(values))
    return config


# ---------------------------------------------------------------------------- model and training pieces
def resolve_loss(config, task):
    """The loss name: the configured one, or cross_entropy / bce_with_logits / mse by task."""
    name = config["loss"]["name"]
    if name not in (None, "auto"):
        return name
    output = config["model"]["output"]
    if config["model"].get("type") == "cascade":   # sigmoid or linear outputs, squared error
        return {"classification": "cross_entropy", "binary": "half_sse"}.get(task, "mse")
    if task == "classification":
        return "cross_entropy"
    if task == "binary":
        return "half_sse" if output in ("sigmoid",) else "bce_with_logits"
    return "mse"


def decision_threshold(config, loss_name):
    """Where one output splits the classes: 0 for logits, 0.5 for probabilities."""
    return 0.0 if loss_name == "bce_with_logits" and config["model"]["output"] in ("auto", "identity") else 0.5


def build_model(config, n_inputs, n_outputs):
    """Sequential MLP: Linear -> activation for each hidden width, then Linear -> output activation."""
    from .. import nn
    from ..backend import get_generator
    m = config["model"]
    if m.get("type") == "cascade":
        raise ConfigError("[model] type = \"cascade\": the network is grown by training, so there is no "
                          "architecture to build before it; train it, then load the run's model.safetensors")
    rng = get_generator(np.random.default_rng(m["seed"]))
    dtype = np.dtype(m["dtype"])
    layers, width = [], n_inputs
    for h in m["hidden"]:
        layers += [nn.Linear(width, h, dtype=dtype, generator=rng, init=m["init"]), nn.get_activation(m["activation"])]
        width = h
    layers.append(nn.Linear(width, n_outputs, dtype=dtype, generator=rng, init=m["init"]))
    if m["output"] not in ("auto", "identity"):
        layers.append(nn.get_activation(m["output"]))
    return nn.Sequential(*layers)


def train_cascade(config, prepared, y, callbacks=()):
    """[model] type = "cascade": grow a CascadeNetwork by cascade-correlation on (X_train, y).

    Returns (model, history, diverged). Classes train sigmoid outputs on 0/1 targets (one per
    class, or one for a binary task: the same dynamics as Fahlman's ±0.5 units, shifted),
    regression linear outputs. ``[train] epochs`` is the budget of epochs over both phases.
    """
    from ..training import CascadeCorrelation
    c = config["cascade"]
    if prepared.task == "classification":
        targets, output = np.eye(prepared.n_outputs)[y], "sigmoid"
    else:
        targets, output = y, ("sigmoid" if prepared.task == "binary" else "identity")
    phases = {phase: {key: c[f"{phase}_{key}"] for key in ("epsilon", "patience", "max_epochs")
                      if c[f"{phase}_{key}"] is not None} for phase in ("output", "candidate")}
    try:
        trainer = CascadeCorrelation(max_hidden=c["max_hidden"], n_candidates=c["candidates"],
                                     candidate_activations=c["candidate_activations"], output_activation=output,
                                     score_threshold=c["score_threshold"], error_index=c["error_index"],
                                     prime_offset=c["prime_offset"], output_phase=phases["output"],
                                     candidate_phase=phases["candidate"], max_epochs=config["train"]["epochs"],
                                     seed=config["model"]["seed"], callbacks=callbacks)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[cascade] {exc}") from None
    model = trainer.fit(prepared.X_train, targets)
    diverged = str(trainer.stop_reason_).startswith("diverged")
    return model.to(config["model"]["dtype"]), trainer.history_, diverged


def build_loss(config, loss_name):
    from .. import nn
    kw = {k: v for k, v in config["loss"].items() if k != "name"}
    return nn.get_loss(loss_name, **kw)


def build_optimizer(config, model):
    from .. import optim
    kw = {k: v for k, v in config["optimizer"].items() if k != "name"}
    try:
        return optim.get(config["optimizer"]["name"], model.parameters(), **kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[optimizer] {config['optimizer']['name']!r}: {exc}") from None


def build_scheduler(config, optimizer):
    from ..optim import lr_scheduler
    name = config["scheduler"].get("name")
    if not name:
        return None
    kw = {k: v for k, v in config["scheduler"].items() if k != "name"}
    try:
        getter = getattr(lr_scheduler, "get", None)
        return getter(name, optimizer, **kw) if getter else getattr(lr_scheduler, name)(optimizer, **kw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[scheduler] {name!r}: {exc}") from None


def whole_set_loss(loss_fn: Callable) -> Callable:
    """The metric that makes every reported loss one quantity: ``loss_fn`` on the whole training set
    with the weights at the end of the epoch.

    The trainer's own epoch figure is a running average of batch losses taken while the weights
    move, weighted by batch size; for a loss that sums over its batch (half_sse) that weighting
    also changes its unit with the mode (online: per example; batch: the whole set). The CLI
    names this metric ``loss``, so the trainer stores it in place of the running average (metrics
    are computed on the epoch's final outputs, which the trainer computes once per epoch anyway
    for the other metrics) and the stopping rules, the progress line, history.csv, the summary,
    run.json and ``evaluate`` all report ``loss_fn(model(X), y)`` on a whole set.
    """
    import retrograd as rg

    def loss(outputs, targets):
        with rg.no_grad():
            return float(loss_fn(rg.tensor(outputs), rg.tensor(targets)).data)
    return loss


def metric_functions(config, task, threshold, loss_fn=None, target_scaling=None):
    """The metrics to record: the whole-set loss, then configured names or accuracy / rmse.

    Regression metrics are computed in the data's own units (outputs and targets un-scaled).
    """
    from ..training.metrics import METRICS, accuracy
    names = config["train"]["metrics"]
    if names is None:
        names = ["rmse"] if task == "regression" else ["accuracy"]
    fns = [whole_set_loss(loss_fn)] if loss_fn is not None else []
    for name in names:
        if name in ("accuracy", "acc") and threshold != 0.5:
            def accuracy_at_threshold(out, t, _thr=threshold):
                return accuracy(out, t, threshold=_thr)
            accuracy_at_threshold.__name__ = "accuracy"
            fns.append(accuracy_at_threshold)
        elif task == "regression" and target_scaling is not None:
            def in_data_units(out, t, _fn=METRICS[name]):
                return _fn(target_scaling.unscale(out), target_scaling.unscale(t))
            in_data_units.__name__ = "accuracy" if name == "acc" else name
            fns.append(in_data_units)
        else:
            fns.append("accuracy" if name == "acc" else name)   # fit looks names up itself
    return fns


def stop_rules(config, threshold):
    stop = {k: v for k, v in config["stop"].items() if v is not None and v is not False}
    if stop.get("all_correct") is True:
        stop["all_correct"] = {"threshold": threshold}
    if "bit_fail" in stop:
        stop["bit_fail"] = (stop["bit_fail"], 0)
    return stop or None


def predict_outputs(model, X, chunk=4096):
    """Model outputs as a NumPy array, in eval mode, without a graph (a model on the GPU too)."""
    import retrograd as rg
    model.eval()
    first = next(iter(model.parameters()), None)
    device = "cpu" if first is None else first.device
    outs = []
    with rg.no_grad():
        for s in range(0, len(X), chunk):
            outs.append(model(rg.tensor(X[s:s + chunk], device=device)).numpy())
    return np.concatenate(outs) if outs else np.zeros((0,))
