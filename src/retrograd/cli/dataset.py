"""From the [data] section to model-ready arrays: load, decide the task, encode labels, split, scale.

``prepare`` serves training; ``held_out`` rebuilds a run's own test split for evaluate and plot
(same task, same classes, same seeded split). Targets leave this module in *model units*:
class indices (classification), 0/1 columns (binary) or target columns in the data's own units
(regression; the TargetScaling that training applies travels with them).
"""
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .. import data as rgdata
from .errors import DATASET_PACKAGES, require
from .tasks import TargetScaling, TaskChoice, class_list, detect_task, encode_labels

GENERATED = ("xor", "parity", "encoder", "two_spirals", "symmetry")
SHIPPED = {"digits": rgdata.load_digits, "iris": rgdata.load_iris, "wine": rgdata.load_wine,
           "breast_cancer": rgdata.load_breast_cancer}
IMAGE_SHAPES = {"digits": (8, 8), "fashion_mnist": (28, 28)}
CLASS_NAMES = {"fashion_mnist": list(rgdata.FASHION_MNIST_CLASSES)}


@dataclass
class Prepared:
    """A dataset ready for training: scaled inputs, targets in model units, the task and the model's width."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_inputs: int
    n_outputs: int
    task_reason: str = ""
    feature_names: list = field(default_factory=list)
    image_shape: Optional[tuple] = None
    scaler: Any = None
    source: str = ""
    classes: Optional[list] = None
    target_scaling: Optional[TargetScaling] = None


@dataclass
class _Tables:
    X: np.ndarray
    y: np.ndarray
    X_test: Optional[np.ndarray]      # None: hold out test_size of (X, y)
    y_test: Optional[np.ndarray]
    names: list
    source: str
    test_source: str


def _load_generated(cfg: dict) -> tuple:
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


def _load_file(cfg: dict, path: str) -> tuple:
    if cfg["name"] == "csv":
        return rgdata.load_csv(path, target=cfg["target"], delimiter=cfg["delimiter"], header=cfg["header"],
                               return_names=True)
    X, y = rgdata.load_npz(path, x_key=cfg["x_key"], y_key=cfg["y_key"])
    return X.reshape(len(X), -1), y, [f"x{j}" for j in range(int(np.prod(X.shape[1:])))]


def _load_tables(cfg: dict) -> _Tables:
    name = cfg["name"]
    if name in DATASET_PACKAGES:
        require(DATASET_PACKAGES[name], f"[data] name = {name!r}")
    if name in GENERATED:
        X, y = _load_generated(cfg)       # the classic problems are judged on their training set
        names = [f"x{j}" for j in range(X.shape[1])]
        return _Tables(X, y, X, y, names, name, name)
    if name in SHIPPED or name in ("mnist1d", "fashion_mnist"):
        if name in SHIPPED:
            s = SHIPPED[name](test_size=cfg["test_size"] or 0.2, seed=cfg["split_seed"])
            prefix, source = "x", name
        elif name == "mnist1d":
            s, prefix, source = rgdata.load_mnist1d(), "t", name
        else:
            s, prefix = rgdata.load_fashion_mnist(cfg["path"]), "p"
            source = cfg["path"] or rgdata.FASHION_MNIST_DIR
        names = [f"{prefix}{j}" for j in range(s.X_train.shape[1])]
        return _Tables(s.X_train, s.y_train, s.X_test, s.y_test, names, str(source), str(source))
    X, y, names = _load_file(cfg, cfg["path"])
    if cfg["test_path"]:
        X_te, y_te, names_te = _load_file(cfg, cfg["test_path"])
        if list(names_te) != list(names):
            raise rgdata.DataError(f"test file columns {names_te} differ from the training file's {names}",
                                   cfg["test_path"])
        return _Tables(X, y, X_te, y_te, list(names), cfg["path"], cfg["test_path"])
    return _Tables(X, y, None, None, list(names), cfg["path"], f"{cfg['path']} (test split)")


def to_model_targets(y: Any, task: str, classes: Optional[list], n_outputs: int, source: Any) -> np.ndarray:
    """Targets as the model sees them: class indices, 0/1 columns, or float64 target columns."""
    if task == "classification":
        return encode_labels(y, classes or [], source)
    if task == "binary":
        if classes:
            return encode_labels(y, classes, source).reshape(-1, 1).astype(np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if y.shape[1] != n_outputs:
            raise rgdata.DataError(f"targets have {y.shape[1]} columns but the model has {n_outputs} outputs",
                                   source)
        if not np.isin(y, (0, 1)).all():
            raise rgdata.DataError("binary targets must be 0 or 1", source)
        return y
    return rgdata.check_targets(y, n_outputs, source)


def _split(tables: _Tables, y_model: np.ndarray, cfg: dict, stratify: bool) -> tuple:
    """(X_train, y_train, X_test, y_test) with targets in model units."""
    if tables.X_test is not None:
        return tables.X, y_model, tables.X_test, None
    if cfg["test_size"] > 0:
        s = rgdata.train_test_split(tables.X, y_model, test_size=cfg["test_size"], seed=cfg["split_seed"],
                                    stratify=stratify)
        if len(s.X_test) == 0 or len(s.X_train) == 0:
            raise rgdata.DataError(f"{len(tables.X)} rows are too few to hold out test_size = {cfg['test_size']} "
                                   "of them; add rows, give a test file (--test-path), or set [data] test_size = 0 "
                                   "to train and judge on every row", tables.source)
        return s.X_train, s.y_train, s.X_test, s.y_test
    return tables.X, y_model, tables.X, y_model


def _classes_for(task: str, tables: _Tables) -> Optional[list]:
    """The class list of a classification (or 1-D binary) task: training and test labels together."""
    y = np.asarray(tables.y)
    if task == "classification" or (task == "binary" and (y.ndim == 1 or y.dtype.kind in "US")):
        parts = [tables.y] + ([tables.y_test] if tables.y_test is not None else [])
        return class_list(*parts)
    return None


def _n_outputs(task: str, classes: Optional[list], y: np.ndarray) -> int:
    if task == "classification":
        return len(classes or [])
    if task == "binary" and classes:
        return 1
    return int(np.prod(np.asarray(y).shape[1:])) if np.asarray(y).ndim > 1 else 1


def _splits(cfg: dict, tables: _Tables, task: str, classes: Optional[list], n_out: int) -> tuple:
    """Train/test arrays in model units (the same seeded split for training and for `evaluate`)."""
    y_model = to_model_targets(tables.y, task, classes, n_out, tables.source)
    X_tr, y_tr, X_te, y_te = _split(tables, y_model, cfg, stratify=task == "classification")
    if y_te is None:
        y_te = to_model_targets(tables.y_test, task, classes, n_out, tables.test_source)
    return X_tr, y_tr, X_te, y_te


def prepare(config: dict) -> Prepared:
    """Load, decide the task, split and scale the configured data (scalers fitted on the training part)."""
    cfg = config["data"]
    tables = _load_tables(cfg)
    choice: TaskChoice = detect_task(tables.y, cfg["task"])
    classes = _classes_for(choice.task, tables)
    n_out = _n_outputs(choice.task, classes, tables.y)
    X_tr, y_tr, X_te, y_te = _splits(cfg, tables, choice.task, classes, n_out)
    if cfg["limit"]:
        X_tr, y_tr = X_tr[:cfg["limit"]], y_tr[:cfg["limit"]]
    scale = cfg["scale"]
    if scale == "auto":
        scale = "none" if cfg["name"] in GENERATED + ("fashion_mnist",) else "standard"
    scaler = rgdata.get_scaler(scale)
    if scaler is not None:
        scaler.fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    target_scaling = None
    if choice.task == "regression":
        target_scaling = (TargetScaling.fit(y_tr) if cfg["scale_target"]
                          else TargetScaling.identity(n_out))
    dtype = np.dtype(config["model"]["dtype"])
    if choice.task == "binary":
        y_tr, y_te = y_tr.astype(dtype), y_te.astype(dtype)
    return Prepared(X_tr.astype(dtype), y_tr, X_te.astype(dtype), y_te, choice.task, X_tr.shape[1], n_out,
                    choice.reason, list(tables.names), IMAGE_SHAPES.get(cfg["name"]), scaler, str(tables.source),
                    classes, target_scaling)


def reload_splits(config: dict, info: dict) -> tuple:
    """(X_train, y_train, X_test, y_test, test source) of a trained run, loaded again as training did:
    the same task, classes, seeded split and row limit; inputs unscaled, targets in model units."""
    cfg = config["data"]
    tables = _load_tables(cfg)
    X_tr, y_tr, X_te, y_te = _splits(cfg, tables, info["task"], info.get("classes"), info["n_outputs"])
    if cfg["limit"]:
        X_tr, y_tr = X_tr[:cfg["limit"]], y_tr[:cfg["limit"]]
    return X_tr, y_tr, X_te, y_te, tables.test_source


def held_out(config: dict, info: dict) -> tuple:
    """(X, y, source) of a run's own test split, unscaled inputs and targets in model units."""
    _, _, X_te, y_te, source = reload_splits(config, info)
    return X_te, y_te, source
