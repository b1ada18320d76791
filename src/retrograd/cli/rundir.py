"""A run directory: resolved config, model.safetensors (+ scaler), history.csv, run.json, plots."""
import csv
import json
import os
import tempfile
from pathlib import Path

from . import config as cfgmod
from .config import ConfigError

MODEL_FILE = "model.safetensors"
SCALER_FILE = "scaler.safetensors"
HISTORY_FILE = "history.csv"
INFO_FILE = "run.json"


def _atomic_text(path, text):
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", dir=Path(path).parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_tensors(arrays, path, metadata=None):
    from ..io import save_tensors as io_save
    return io_save(arrays, path, metadata or {})


def load_tensors(path):
    """(arrays, metadata) of a safetensors file; a corrupt file is a ConfigError naming it."""
    from ..io import SafetensorsError
    from ..io import load_tensors as io_load
    try:
        return io_load(path)
    except (SafetensorsError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the model file: {exc}") from None


def save_run(directory, config, info, model, history, scaler=None):
    """Write everything a later evaluate / predict / plot needs."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if config["output"]["format"] == "json":
        _atomic_text(directory / "config.json", json.dumps(cfgmod.strip_none(config), indent=2) + "\n")
    else:
        _atomic_text(directory / "config.toml", cfgmod.to_toml(config))
    from ..io import save as save_model      # rg.save: rg.load(model.safetensors) rebuilds the network
    save_model(model, directory / MODEL_FILE, {"retrograd_run": "1", "task": info["task"]})
    if scaler is not None:
        save_tensors(scaler.state_dict(), directory / SCALER_FILE, {"scaler": type(scaler).__name__})
    write_history(history, directory / HISTORY_FILE)
    _atomic_text(directory / INFO_FILE, json.dumps(info, indent=2) + "\n")


def write_history(history, path):
    keys = list(history.keys())
    n = max((len(v) for v in history.values()), default=0)
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", dir=Path(path).parent)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch"] + keys)
        for i in range(n):
            row = [i + 1]
            for k in keys:
                v = history[k][i] if i < len(history[k]) else None
                row.append("" if v is None else repr(float(v)))
            writer.writerow(row)
    os.replace(tmp, path)


def read_history(path):
    """history.csv back into a dict of per-epoch lists (None for empty cells)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} does not exist; is {path.parent} a run directory written by `retrograd train`?")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or rows[0][:1] != ["epoch"]:
        raise ConfigError(f"{path}: not a retrograd history (the first column must be 'epoch')")
    keys = rows[0][1:]
    history = {k: [] for k in keys}
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(rows[0]):
            raise ConfigError(f"{path}, line {line}: {len(row)} cells, the header has {len(rows[0])}")
        for k, cell in zip(keys, row[1:]):
            history[k].append(float(cell) if cell != "" else None)
    return history


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
        self.config = cfgmod.merge(base, raw, source)
        info_path = self.dir / INFO_FILE
        if not info_path.exists():
            raise ConfigError(f"{self.dir} has no {INFO_FILE}; the run did not finish")
        self.info = json.loads(info_path.read_text())

    def model(self):
        from .setup import build_model
        path = self.dir / MODEL_FILE
        if not path.exists():
            raise ConfigError(f"{path} is missing; the run did not finish")
        if self.config["model"].get("type") == "cascade":    # grown by training: the file holds its architecture
            from ..io import load
            return load(path)
        model = build_model(self.config, self.info["n_inputs"], self.info["n_outputs"])
        arrays, _ = load_tensors(path)
        try:
            model.load_state_dict(arrays)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{path} does not match the architecture in {self.config_path}: {exc}") from None
        return model

    def scaler(self):
        path = self.dir / SCALER_FILE
        if not path.exists():
            return None
        from .. import data
        arrays, meta = load_tensors(path)
        cls = {"Standardizer": data.Standardizer, "MinMaxScaler": data.MinMaxScaler}[meta.get("scaler", "Standardizer")]
        return cls().load_state_dict(arrays)
