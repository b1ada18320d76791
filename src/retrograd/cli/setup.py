"""From a validated config to the pieces of a run: data (split, scaled), task, model, loss, optimizer."""
import copy
from dataclasses import dataclass, field

import numpy as np

from .. import data as rgdata
from .config import ConfigError

GENERATED = ("xor", "parity", "encoder", "two_spirals", "symmetry")
SHIPPED = {"digits": rgdata.load_digits, "iris": rgdata.load_iris, "wine": rgdata.load_wine,
           "breast_cancer": rgdata.load_breast_cancer}
IMAGE_SHAPES = {"digits": (8, 8), "fashion_mnist": (28, 28)}
CLASS_NAMES = {"fashion_mnist": list(rgdata.FASHION_MNIST_CLASSES)}

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


@dataclass
class Prepared:
    """A dataset ready for training: scaled arrays, what kind of task, and the model's width."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_inputs: int
    n_outputs: int
    feature_names: list = field(default_factory=list)
    image_shape: tuple = None
    scaler: object = None
    source: str = ""


def _load_generated(cfg):
    name = cfg["name"]
    if name == "xor":
        return rgdata.xor()
    if name == "parity":
        return rgdata.parity(cfg["n_bits"] or 4)
    if name == "symmetry":
        return rgdata.symmetry(cfg["n_bits"] or 6)
    if name == "encoder":
        return rgdata.encoder(cfg["n"])
    return rgdata.two_spirals(cfg["points"], noise=cfg["noise"], seed=cfg["split_seed"])


def _load_file(cfg, path):
    if cfg["name"] == "csv":
        return rgdata.load_csv(path, target=cfg["target"], delimiter=cfg["delimiter"], header=cfg["header"],
                               return_names=True)
    X, y = rgdata.load_npz(path, x_key=cfg["x_key"], y_key=cfg["y_key"])
    return X.reshape(len(X), -1), y, [f"x{j}" for j in range(int(np.prod(X.shape[1:])))]


def load_raw(cfg):
    """(X_train, y_train, X_test, y_test, feature_names, source) as loaded, before scaling."""
    name = cfg["name"]
    if name in GENERATED:
        X, y = _load_generated(cfg)       # the classic problems are judged on their training set
        return X, y, X, y, [f"x{j}" for j in range(X.shape[1])], name
    if name in SHIPPED:
        try:
            s = SHIPPED[name](test_size=cfg["test_size"] or 0.2, seed=cfg["split_seed"])
        except ImportError as exc:
            raise ConfigError(f"[data] name = {name!r}: {exc}") from None
        return (*s, [f"x{j}" for j in range(s.X_train.shape[1])], name)
    if name == "mnist1d":
        try:
            s = rgdata.load_mnist1d()
        except ImportError as exc:
            raise ConfigError(f"[data] name = 'mnist1d': {exc}") from None
        return (*s, [f"t{j}" for j in range(s.X_train.shape[1])], name)
    if name == "fashion_mnist":
        s = rgdata.load_fashion_mnist(cfg["path"])
        return (*s, [f"p{j}" for j in range(s.X_train.shape[1])], cfg["path"] or rgdata.FASHION_MNIST_DIR)
    X, y, names = _load_file(cfg, cfg["path"])
    if cfg["test_path"]:
        X_te, y_te, names_te = _load_file(cfg, cfg["test_path"])
        if list(names_te) != list(names):
            raise rgdata.DataError(f"test file columns {names_te} differ from the training file's {names}",
                                   cfg["test_path"])
        return X, y, X_te, y_te, names, cfg["path"]
    if cfg["test_size"] > 0:
        stratify = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
        s = rgdata.train_test_split(X, y, test_size=cfg["test_size"], seed=cfg["split_seed"], stratify=stratify)
        return (*s, names, cfg["path"])
    return X, y, X, y, names, cfg["path"]


def infer_task(y, requested):
    """classification (integer labels), binary (0/1 target columns) or regression (anything else)."""
    if requested != "auto":
        return requested
    y = np.asarray(y)
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return "classification"
    if np.isin(y, (0, 1)).all():
        return "binary"
    return "regression"


def prepare(config):
    """Load, split and scale the configured data (scaler fitted on the training part only)."""
    cfg = config["data"]
    X_tr, y_tr, X_te, y_te, names, source = load_raw(cfg)
    if cfg["limit"]:
        X_tr, y_tr = X_tr[:cfg["limit"]], y_tr[:cfg["limit"]]
    task = infer_task(y_tr, cfg["task"])
    dtype = np.dtype(config["model"]["dtype"])
    if task == "classification":
        if np.min(y_tr) < 0:
            raise rgdata.DataError(f"class labels must be 0, 1, ..., K-1; found {int(np.min(y_tr))}. Relabel "
                                   "the target, or set [data] task = \"regression\" for numeric targets", source)
        y_tr = rgdata.check_labels(y_tr, int(np.max(y_tr)) + 1, source)
        n_out = int(max(y_tr.max(), np.max(y_te) if len(y_te) else 0)) + 1
        y_te = rgdata.check_labels(y_te, n_out, cfg["test_path"] or source)
    else:
        y_tr = y_tr.reshape(len(y_tr), -1).astype(dtype)
        y_te = y_te.reshape(len(y_te), -1).astype(dtype)
        n_out = y_tr.shape[1]
    scale = cfg["scale"]
    if scale == "auto":
        scale = "none" if cfg["name"] in GENERATED + ("fashion_mnist",) else "standard"
    scaler = rgdata.get_scaler(scale)
    if scaler is not None:
        scaler.fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    return Prepared(X_tr.astype(dtype), y_tr, X_te.astype(dtype), y_te, task, X_tr.shape[1], n_out,
                    list(names), IMAGE_SHAPES.get(cfg["name"]), scaler, str(source))


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


def train_cascade(config, prepared, callbacks=()):
    """[model] type = "cascade": grow a CascadeNetwork by cascade-correlation; returns (model, history).

    Classes train sigmoid outputs on 0/1 targets (one per class, or one for a binary task;
    the same dynamics as Fahlman's ±0.5 units, shifted), regression linear outputs.
    ``[train] epochs`` is the budget of epochs over both phases.
    """
    from ..training import CascadeCorrelation
    c = config["cascade"]
    y = prepared.y_train
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
    return model.to(config["model"]["dtype"]), trainer.history_


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


def metric_functions(config, task, threshold):
    """The metrics to record: configured names, or accuracy (classification) / rmse (regression)."""
    from ..training.metrics import accuracy
    names = config["train"]["metrics"]
    if names is None:
        names = ["rmse"] if task == "regression" else ["accuracy"]
    fns = []
    for name in names:
        if name in ("accuracy", "acc") and threshold != 0.5:
            def accuracy_at_threshold(out, t, _thr=threshold):
                return accuracy(out, t, threshold=_thr)
            accuracy_at_threshold.__name__ = "accuracy"
            fns.append(accuracy_at_threshold)
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
    """Model outputs as an array, in eval mode, without a graph."""
    import retrograd as rg
    model.eval()
    outs = []
    with rg.no_grad():
        for s in range(0, len(X), chunk):
            outs.append(model(rg.tensor(X[s:s + chunk])).data)
    return np.concatenate(outs) if outs else np.zeros((0,))
