"""Run configuration: the schema (sections, keys, types, allowed values), TOML/JSON reading and writing, validation.

A config is a dict of sections. Every key is checked against ``SCHEMA``; an error names the key,
the file and line where it was written (when it came from a file) and what is allowed.
Optimizer, scheduler and loss sections also take the hyperparameters of the chosen class,
checked against its signature.
"""
import copy
import inspect
import json
import math
import re
from pathlib import Path

DATASETS = ("xor", "parity", "encoder", "two_spirals", "symmetry", "digits", "iris", "wine",
            "breast_cancer", "mnist1d", "fashion_mnist", "csv", "npz")
FILE_DATASETS = ("csv", "npz")
TASKS = ("auto", "classification", "binary", "regression")
MODES = ("online", "batch", "minibatch")
SCALERS = ("auto", "standard", "minmax", "none")
STOP_KEYS = {"goal": float, "min_grad": float, "time": float, "patience": int, "all_correct": bool,
             "bit_fail": float}


class ConfigError(Exception):
    """A configuration mistake: exit status 2 with this message, no traceback."""


class _Key:
    """One schema entry: its type(s), default and (optionally) allowed values or a range check."""

    def __init__(self, types, default, choices=None, check=None, help=""):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.choices = choices
        self.check = check
        self.help = help


def _positive(v):
    return v > 0


def _fraction(v):
    return 0.0 <= v < 1.0


def _device_name(v):
    from ..backend import parse_device
    try:
        parse_device(v)
    except ValueError:
        return False
    return True


def _hidden(v):
    return all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in v)


SCHEMA = {
    "data": {
        "name": _Key(str, "digits", DATASETS, help="which dataset"),
        "path": _Key(str, None, help="file (csv/npz) or folder (fashion_mnist)"),
        "test_path": _Key(str, None, help="separate test file (csv/npz); else test_size is held out"),
        "target": _Key((str, int), "target", help="target column of a CSV (name, or index without header)"),
        "header": _Key(bool, True),
        "delimiter": _Key(str, None),
        "x_key": _Key(str, "X"),
        "y_key": _Key(str, "y"),
        "task": _Key(str, "auto", TASKS, help="auto: decided from the target (see docs/cli.md)"),
        "scale_target": _Key(bool, True, help="standardise regression targets (predictions are un-scaled)"),
        "test_size": _Key(float, 0.2, check=(lambda v: 0.0 <= v < 1.0, "in [0, 1)")),
        "split_seed": _Key(int, 0),
        "scale": _Key(str, "auto", SCALERS),
        "n_bits": _Key(int, None, check=(_positive, "> 0")),
        "n": _Key(int, 8, check=(lambda v: v >= 2, ">= 2")),
        "points": _Key(int, 97, check=(_positive, "> 0")),
        "noise": _Key(float, 0.0, check=(lambda v: v >= 0, ">= 0")),
        "limit": _Key(int, None, check=(_positive, "> 0"), help="use only the first N training examples"),
    },
    "model": {
        "hidden": _Key(list, [32], check=(_hidden, "a list of positive integers, e.g. [32, 16]")),
        "activation": _Key(str, "tanh"),
        "output": _Key(str, "auto", help="output activation; auto = none (logits) or as the loss needs"),
        "init": _Key(str, "xavier_uniform"),
        "dtype": _Key(str, "float32", ("float32", "float64")),
        "seed": _Key(int, 0),
        "type": _Key(str, "mlp", ("mlp", "cascade"),
                     help="mlp: the layers in hidden; cascade: grown by cascade-correlation, see [cascade]"),
    },
    "loss": {"name": _Key(str, "auto")},
    "optimizer": {"name": _Key(str, "adam")},
    "scheduler": {"name": _Key(str, None)},
    "train": {
        "epochs": _Key(int, 30, check=(_positive, "> 0")),
        "mode": _Key(str, "minibatch", MODES),
        "batch_size": _Key(int, 32, check=(_positive, "> 0")),
        "validation_split": _Key(float, 0.0, check=(_fraction, "in [0, 1)")),
        "seed": _Key(int, 0),
        "precision": _Key(str, "float32", ("float32", "float16", "bfloat16"),
                          help="float16 / bfloat16: mixed precision, float32 master weights (docs/precision.md)"),
        "device": _Key(str, "cpu", check=(_device_name, "'cpu' or 'cuda' (or 'cuda:N')"),
                       help="where to train: cpu, or cuda (a GPU through CuPy: pip install 'retrograd[gpu]')"),
        "metrics": _Key(list, None, help="metric names; default accuracy (classification) or rmse"),
        "snapshots": _Key(int, 8, check=(lambda v: v >= 0, ">= 0"),
                          help="decision-boundary snapshots for 2-D problems"),
    },
    "stop": {k: _Key(t if t is not float else (float, int), None) for k, t in STOP_KEYS.items()},
    "cascade": {   # [model] type = "cascade": rg.training.CascadeCorrelation's settings (None: its default)
        "max_hidden": _Key(int, 30, check=(lambda v: v >= 0, ">= 0")),
        "candidates": _Key(int, 8, check=(_positive, "> 0")),
        "candidate_activations": _Key(list, ["sigmoid_symmetric"]),
        "score_threshold": _Key(float, 0.4, check=(_positive, "> 0")),
        "error_index": _Key(float, 0.01, check=(_positive, "> 0")),
        "prime_offset": _Key(float, 0.1, check=(lambda v: v >= 0, ">= 0")),
        **{f"{phase}_{key}": _Key(t, None, check=(_positive, "> 0")) for phase in ("output", "candidate")
           for key, t in (("epsilon", float), ("patience", int), ("max_epochs", int))},
    },
    "output": {
        "dir": _Key(str, None, help="run directory; default runs/<dataset>-<time>"),
        "plots": _Key(bool, True),
        "gif": _Key(bool, False, help="also animate the decision boundary (2-D problems) as boundary.gif"),
        "format": _Key(str, "toml", ("toml", "json")),
        "log_every": _Key(int, None, check=(_positive, "> 0"),
                          help="progress line every N epochs without a terminal; default: about 50 lines a run"),
    },
}
# Sections whose extra keys are hyperparameters of the named class, checked by signature.
OPEN_SECTIONS = ("loss", "optimizer", "scheduler")


def default_dataset():
    """The embedded default: digits, or XOR when scikit-learn (which ships digits) cannot be imported."""
    try:
        import sklearn.datasets  # noqa: F401
    except ImportError:
        return "xor"
    return "digits"


def defaults():
    """A config with every default filled in (dataset-dependent choices stay 'auto')."""
    return {section: {k: copy.deepcopy(spec.default) for k, spec in keys.items()}
            for section, keys in SCHEMA.items()}


# ---------------------------------------------------------------------------- reading
def _tomllib():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            from .errors import MissingPackageError
            raise MissingPackageError("reading TOML on Python 3.10 needs the tomli package, which is not "
                                      "installed: pip install 'retrograd[toml]' (or pip install tomli)") from None
    return tomllib


class Source:
    """Where a config came from, to point errors at the file and line of a key."""

    def __init__(self, path=None, text=None):
        self.path = path
        self.lines = text.splitlines() if text else []

    def where(self, section, key=None):
        """'file.toml, line 7: ' for the first `key =` inside `[section]`, or '' when unknown."""
        if self.path is None:
            return ""
        line = self._find(section, key)
        return f"{self.path}, line {line}: " if line else f"{self.path}: "

    def _find(self, section, key):
        current = None
        for number, text in enumerate(self.lines, 1):
            stripped = text.strip()
            header = re.match(r"^\[\s*([A-Za-z0-9_.-]+)\s*\]", stripped)
            if header:
                current = header.group(1)
                if key is None and current == section:
                    return number
                continue
            if key is not None and current == section and re.match(rf"^\"?{re.escape(str(key))}\"?\s*=", stripped):
                return number
        return None


def read_config_file(path):
    """Parse a .toml or .json config; returns (dict, Source). Syntax errors become ConfigError with the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the config "
                          "as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:     # 5000-digit numbers, nesting past the recursion limit
            raise ConfigError(f"{path}: invalid JSON: {str(exc)[:200]}") from None
    else:
        tomllib = _tomllib()
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a table of sections, got {type(raw).__name__}")
    return raw, Source(path, text)


# ---------------------------------------------------------------------------- validation
def _type_name(types):
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_value(section, key, value, spec, source):
    where = source.where(section, key)
    types = spec.types
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{where}[{section}] {key} = {value!r} must be {_type_name(types)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}[{section}] {key} = {value!r} must be a finite number")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(f"{where}[{section}] {key} = {value!r} is not allowed; choose one of "
                          f"{', '.join(map(str, spec.choices))}")
    if spec.check is not None and not spec.check[0](value):
        raise ConfigError(f"{where}[{section}] {key} = {value!r} must be {spec.check[1]}")
    return value


def merge(base, raw, source=None):
    """Check ``raw`` section by section against the schema and merge it over ``base`` (a copy)."""
    source = source or Source()
    config = copy.deepcopy(base)
    for section, values in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source.where(section)}unknown section [{section}]; allowed sections: "
                              f"{', '.join(SCHEMA)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source.where(section)}[{section}] must be a table (a [{section}] "
                              f"header followed by key = value lines)")
        if section in OPEN_SECTIONS and "name" in values and values["name"] != config[section].get("name"):
            # a new class: drop the old hyperparameters, they belonged to the previous one
            config[section] = {"name": None}
        for key, value in values.items():
            spec = SCHEMA[section].get(key)
            if spec is None:
                if section in OPEN_SECTIONS:
                    config[section][key] = value      # a hyperparameter, checked once the name is known
                    continue
                raise ConfigError(f"{source.where(section, key)}unknown key {key!r} in [{section}]; "
                                  f"allowed keys: {', '.join(SCHEMA[section])}")
            if value is not None:
                value = _check_value(section, key, value, spec, source)
            config[section][key] = value
    return config


def _signature_keys(cls, skip):
    """The keyword parameters of ``cls``; None when it takes arbitrary ones (cannot check).

    Optimizers pass ``**common`` to the base class, which accepts its shared group settings
    (weight_decay, clip_norm, clip_value); those are listed instead.
    """
    params = inspect.signature(cls.__init__).parameters
    names = [n for n, p in params.items() if n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    var = [n for n, p in params.items() if p.kind == p.VAR_KEYWORD]
    if var == ["common"]:
        try:
            from ..optim.optimizer import _COMMON
        except ImportError:
            return None
        return names + [k for k in _COMMON if k not in names]
    return None if var else names


def check_hyperparameters(config, source=None):
    """The optimizer / scheduler / loss names exist and their extra keys are parameters of that class."""
    source = source or Source()
    from .. import nn, optim
    lookups = {
        "optimizer": (lambda n: optim.get_class(n), ("self", "params"), optim.names),
        "scheduler": (_scheduler_class, ("self", "optimizer"), _scheduler_names),
        "loss": (_loss_class, ("self",), nn.loss_names),
    }
    for section, (lookup, skip, names) in lookups.items():
        name = config[section].get("name")
        hyper = [k for k in config[section] if k != "name"]
        if name in (None, "auto"):
            if hyper and section != "loss":
                raise ConfigError(f"{source.where(section, hyper[0])}[{section}] {hyper[0]} given but no "
                                  f"[{section}] name; set name = one of {', '.join(names())}")
            continue
        try:
            cls = lookup(name)
        except (ValueError, KeyError):
            raise ConfigError(f"{source.where(section, 'name')}[{section}] name = {name!r} is unknown; "
                              f"choose one of {', '.join(names())}") from None
        allowed = _signature_keys(cls, skip)
        for key in hyper:
            if allowed is not None and key not in allowed:
                raise ConfigError(f"{source.where(section, key)}[{section}] {key!r} is not a parameter of "
                                  f"{section} {name!r}; allowed: {', '.join(allowed) or '(none)'}")


def _scheduler_class(name):
    from ..optim import lr_scheduler
    getter = getattr(lr_scheduler, "get_class", None)
    if getter is not None:
        return getter(name)
    cls = getattr(lr_scheduler, name, None)
    if not isinstance(cls, type):
        raise ValueError(name)
    return cls


def _scheduler_names():
    from ..optim import lr_scheduler
    names = getattr(lr_scheduler, "names", None)
    if callable(names):
        return names()
    return sorted(n for n in dir(lr_scheduler) if n[0].isupper() and isinstance(getattr(lr_scheduler, n), type))


def _loss_class(name):
    from .. import nn
    return type(nn.get_loss(name))


def check_stop(config, source=None):
    for key, value in config["stop"].items():
        if value is not None and key == "bit_fail" and not 0 < value < 1:
            raise ConfigError(f"{(source or Source()).where('stop', key)}[stop] bit_fail = {value} "
                              "must be the per-output error limit, in (0, 1)")


def validate(config, source=None):
    """Cross-key checks after merging: names that must exist, keys that depend on each other."""
    source = source or Source()
    data = config["data"]
    if data["name"] in FILE_DATASETS and not data["path"]:
        raise ConfigError(f"{source.where('data', 'name')}[data] name = {data['name']!r} needs "
                          f"[data] path = \"FILE.{data['name']}\"")
    from .. import nn
    for key in ("activation", "output"):
        value = config["model"][key]
        if key == "output" and value == "auto":
            continue
        try:
            nn.get_activation(value)
        except ValueError:
            raise ConfigError(f"{source.where('model', key)}[model] {key} = {value!r} is unknown; choose one of "
                              f"{', '.join(nn.activation_names())}") from None
    try:
        nn.init.get(config["model"]["init"])
    except ValueError:
        raise ConfigError(f"{source.where('model', 'init')}[model] init = {config['model']['init']!r} is unknown; "
                          f"choose one of {', '.join(nn.init.names())}") from None
    metrics = config["train"]["metrics"]
    if metrics is not None:
        from ..training.metrics import METRICS
        for m in metrics:
            if m not in METRICS:
                raise ConfigError(f"{source.where('train', 'metrics')}[train] metrics: unknown metric {m!r}; "
                                  f"choose from {', '.join(sorted(METRICS))}")
    check_hyperparameters(config, source)
    check_stop(config, source)
    return config


def load(path=None, overrides=None, preset=None):
    """defaults <- dataset preset <- file <- command-line overrides, validated. Returns the config dict.

    ``preset(config, dataset_name)`` returns the defaults adjusted for that dataset.
    """
    raw, source = read_config_file(path) if path is not None else ({}, None)
    overrides = overrides or {}
    config = defaults()
    data_raw = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    name = (overrides.get("data") or {}).get("name") or data_raw.get("name")
    if isinstance(name, str) and name in DATASETS:
        config["data"]["name"] = name
    elif name is None:
        config["data"]["name"] = default_dataset()
    if preset is not None:
        config = preset(config, config["data"]["name"])
    if raw:
        config = merge(config, raw, source)
    if overrides:
        config = merge(config, overrides, Source())
    return validate(config, source)


# ---------------------------------------------------------------------------- writing
def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)            # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config):
    """TOML text for a config (None values are left out: TOML has no null)."""
    lines = []
    for section, values in config.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def strip_none(config):
    return {s: {k: v for k, v in vals.items() if v is not None} for s, vals in config.items()}
