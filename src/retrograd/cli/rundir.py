"""A run directory: resolved config, model.safetensors (+ scaler), history.csv, run.json, plots.

Reading one back checks every file before use: a missing, damaged or inconsistent file is a
RunError (exit status 1) that names the file; a damaged config file is a ConfigError (exit 2).
"""
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from . import config as cfgmod
from .config import ConfigError
from .errors import RunError

MODEL_FILE = "model.safetensors"
SCALER_FILE = "scaler.safetensors"
HISTORY_FILE = "history.csv"
INFO_FILE = "run.json"
TASKS = ("classification", "binary", "regression")


def write_text(path, text):
    """Write ``text`` as UTF-8 to ``path`` atomically (retrograd.io.atomic_write)."""
    from ..io.atomic import atomic_write
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def save_tensors(arrays, path, metadata=None):
    from ..io import save_tensors as io_save
    return io_save(arrays, path, metadata or {})


def load_tensors(path, what):
    """(arrays, metadata) of a safetensors file; a missing or corrupt file is a RunError naming it."""
    from ..io import SafetensorsError
    from ..io import load_tensors as io_load
    if not Path(path).exists():
        raise RunError(f"{path} is missing; the run did not finish (train it again)")
    try:
        return io_load(path)
    except (SafetensorsError, OSError, ValueError, KeyError, TypeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise RunError(f"{path}: cannot read the {what}: {detail}") from None


def save_run(directory, config, info, model, history, scaler=None):
    """Write everything a later evaluate / predict / plot needs."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if config["output"]["format"] == "json":
        write_text(directory / "config.json", json.dumps(cfgmod.strip_none(config), indent=2) + "\n")
    else:
        write_text(directory / "config.toml", cfgmod.to_toml(config))
    from ..io import save as save_model      # rg.save: rg.load(model.safetensors) rebuilds the network
    save_model(model, directory / MODEL_FILE, {"retrograd_run": "1", "task": info["task"]})
    if scaler is not None:
        save_tensors(scaler.state_dict(), directory / SCALER_FILE, {"scaler": type(scaler).__name__})
    write_history(history, directory / HISTORY_FILE)
    write_text(directory / INFO_FILE, json.dumps(info, indent=2) + "\n")


def write_history(history, path):
    keys = list(history.keys())
    n = max((len(v) for v in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch"] + keys)
    for i in range(n):
        row = [i + 1]
        for k in keys:
            v = history[k][i] if i < len(history[k]) else None
            row.append("" if v is None else repr(float(v)))
        writer.writerow(row)
    write_text(path, buffer.getvalue())


def _read_text(path, what):
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RunError(f"{path}: the {what} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                       "the file is damaged") from None
    except OSError as exc:
        raise RunError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def read_history(path):
    """history.csv back into a dict of per-epoch lists (None for empty cells)."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path} does not exist; is {path.parent} a run directory written by `retrograd train`?")
    try:
        rows = list(csv.reader(io.StringIO(_read_text(path, "training history"))))
    except csv.Error as exc:
        raise RunError(f"{path}: malformed CSV: {exc}") from None
    if not rows or rows[0][:1] != ["epoch"]:
        raise RunError(f"{path}: not a retrograd history (the first column must be 'epoch')")
    keys = rows[0][1:]
    history = {k: [] for k in keys}
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(rows[0]):
            raise RunError(f"{path}, line {line}: {len(row)} cells, the header has {len(rows[0])}")
        for column, (k, cell) in enumerate(zip(keys, row[1:]), 2):
            try:
                history[k].append(float(cell) if cell != "" else None)
            except ValueError:
                raise RunError(f"{path}, line {line}, column {column} ({k!r}): {cell!r} is not a number") from None
    return history


# ---------------------------------------------------------------------------- run.json
def _is_int(v, low=0):
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(v, n):
    return isinstance(v, list) and len(v) == n and all(_is_number(x) for x in v)


def check_info(info: Any, path: Path) -> dict:
    """run.json's keys that evaluate / predict / plot rely on, checked before any is used."""
    if not isinstance(info, dict):
        raise RunError(f"{path}: expected a JSON object of run facts, got {type(info).__name__}; the file is damaged")

    def bad(key, wanted):
        shown = repr(info.get(key)) if key in info else "missing"
        raise RunError(f"{path}: {key!r} must be {wanted}, got {shown[:80]}; the file is damaged "
                       "(train the run again)")

    if info.get("task") not in TASKS:
        bad("task", " or ".join(TASKS))
    for key in ("n_inputs", "n_outputs"):
        if not _is_int(info.get(key), 1):
            bad(key, "a positive integer")
    if not isinstance(info.get("loss"), str):
        bad("loss", "a loss name")
    if not _is_number(info.get("threshold")):
        bad("threshold", "a number")
    if not _is_int(info.get("epochs", 0)):
        bad("epochs", "a count of epochs")
    names = info.setdefault("feature_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        bad("feature_names", "a list of column names")
    shape = info.get("image_shape")
    if shape is not None and not (isinstance(shape, list) and all(_is_int(s, 1) for s in shape)):
        bad("image_shape", "null or a list of positive integers")
    for key in ("class_names", "classes"):
        values = info.get(key)
        if values is not None and not (isinstance(values, list) and all(
                isinstance(c, str) or _is_int(c, -2 ** 62) for c in values)):
            bad(key, "null or a list of labels")
    n_out = info["n_outputs"]
    if info["task"] == "classification":
        info["classes"] = info.get("classes") or list(range(n_out))   # runs written before class lists
        if len(info["classes"]) != n_out or len(set(map(str, info["classes"]))) != n_out:
            bad("classes", f"{n_out} distinct labels (one per output)")
    if info["task"] == "regression":
        scaling = info.get("target_scaling")
        if scaling is not None and not (isinstance(scaling, dict) and _numbers(scaling.get("mean"), n_out)
                                        and _numbers(scaling.get("std"), n_out)
                                        and all(s > 0 for s in scaling["std"])):
            bad("target_scaling", f"mean and std lists of {n_out} numbers (std > 0)")
        if info.get("target_mean") is not None and not _numbers(info["target_mean"], n_out):
            bad("target_mean", f"a list of {n_out} numbers")
    return info


class Run:
    """A loaded run directory: config, info, and lazily the model and scaler."""

    def __init__(self, directory):
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise ConfigError(f"run directory {self.dir} does not exist; pass the directory that "
                              "`retrograd train` printed")
        for name in ("config.toml", "config.json"):
            if (self.dir / name).exists():
                self.config_path = self.dir / name
                break
        else:
            raise ConfigError(f"{self.dir} has no config.toml or config.json; is it a run directory?")
        raw, source = cfgmod.read_config_file(self.config_path)
        base = cfgmod.defaults()
        for section in cfgmod.OPEN_SECTIONS:
            base[section] = {}
        self.config = cfgmod.validate(cfgmod.merge(base, raw, source), source)
        info_path = self.dir / INFO_FILE
        if not info_path.exists():
            raise RunError(f"{info_path} is missing; the run did not finish (train it again)")
        text = _read_text(info_path, "run facts")
        try:
            info = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunError(f"{info_path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}; "
                           "the file is damaged") from None
        self.info = check_info(info, info_path)

    def target_scaling(self):
        """The TargetScaling a regression model was trained with (None otherwise)."""
        from .tasks import TargetScaling
        scaling = self.info.get("target_scaling")
        return TargetScaling.from_json(scaling) if scaling else None

    def model(self):
        from .setup import build_model
        path = self.dir / MODEL_FILE
        arrays, _ = load_tensors(path, "model file")
        if self.config["model"].get("type") == "cascade":    # grown by training: the file holds its architecture
            from ..io import load
            try:
                return load(path)
            except ValueError as exc:
                raise RunError(f"{path}: {exc}") from None
        model = build_model(self.config, self.info["n_inputs"], self.info["n_outputs"])
        try:
            model.load_state_dict(arrays)
        except (KeyError, ValueError, TypeError) as exc:
            raise RunError(f"{path} does not match the network described by {self.config_path} and "
                           f"{self.dir / INFO_FILE}: {exc}") from None
        return model

    def scaler(self):
        path = self.dir / SCALER_FILE
        if not path.exists():
            return None
        from .. import data
        arrays, meta = load_tensors(path, "input scaler")
        classes = {"Standardizer": data.Standardizer, "MinMaxScaler": data.MinMaxScaler}
        kind = meta.get("scaler", "Standardizer")
        if kind not in classes:
            raise RunError(f"{path}: unknown scaler {kind!r}; expected one of {', '.join(classes)}")
        try:
            scaler = classes[kind]().load_state_dict(arrays)
        except KeyError as exc:
            raise RunError(f"{path}: the input scaler is incomplete: {exc}") from None
        for name, values in scaler.state_dict().items():
            if values.shape != (self.info["n_inputs"],):
                raise RunError(f"{path}: the scaler's {name!r} has shape {values.shape} but the model has "
                               f"{self.info['n_inputs']} inputs")
        return scaler
