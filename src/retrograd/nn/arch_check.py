"""Checks a stored architecture description and gives the tensors it implies, without building anything.

A model file's architecture is untrusted JSON: ``Linear(20000, 20000)`` in a 1 KB file would
allocate 1.6 GB if built, and a missing key, a string where a size belongs or a thousand levels of
nesting would escape as KeyError, TypeError or RecursionError. :func:`expected_state` walks the
description with fixed limits (``MAX_DEPTH`` levels, ``MAX_MODULES`` modules), checks every
argument against the layer's table below, and returns ``{state-dict name: (shape, kind)}`` with
plain integers, so that ``rg.load`` can compare it with the tensors in the file before a single
module exists. The tables mirror the constructors' signatures; tests/io/test_model_files.py checks
them against the real modules for every layer type.
"""
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

MAX_DEPTH = 64          # real networks nest a handful of levels
MAX_MODULES = 100_000   # each module costs ~1 KB of Python objects even without parameters

State = Dict[str, Tuple[Tuple[int, ...], str]]   # name -> (shape, "f" float | "i" integer)


class ArchitectureError(ValueError):
    """A stored architecture description names an unknown layer or has invalid arguments."""


_REQUIRED: Any = object()


def _is_int(v: Any) -> bool:
    return type(v) is int


def _size(v: Any) -> bool:
    return _is_int(v) and 0 <= v < 2 ** 62


def _positive(v: Any) -> bool:
    return _is_int(v) and 1 <= v < 2 ** 62


def _number(v: Any) -> bool:
    return (type(v) in (int, float)) and math.isfinite(v)


def _sizes(d: int, check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: check(v) or (isinstance(v, list) and len(v) == d and all(check(i) for i in v))


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _shape_list(v: Any) -> bool:
    return _size(v) or (isinstance(v, list) and 1 <= len(v) <= 32 and all(_size(i) for i in v))


def _string(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 100


def _bool(v: Any) -> bool:
    return type(v) is bool


def _conv(d: int) -> "Arguments":
    return {"in_channels": (_positive, _REQUIRED), "out_channels": (_positive, _REQUIRED),
            "kernel_size": (_sizes(d, _positive), _REQUIRED), "stride": (_sizes(d, _positive), 1),
            "padding": (_sizes(d, _size), 0), "dilation": (_sizes(d, _positive), 1),
            "groups": (_positive, 1), "bias": (_bool, True)}


def _pool(d: int) -> "Arguments":
    return {"kernel_size": (_sizes(d, _positive), _REQUIRED),
            "stride": (_optional(_sizes(d, _positive)), None), "padding": (_sizes(d, _size), 0)}


Arguments = Dict[str, Tuple[Callable[[Any], bool], Any]]

_BATCHNORM: Arguments = {"num_features": (_size, _REQUIRED), "eps": (_number, 1e-5), "momentum": (_optional(_number), 0.1),
              "affine": (_bool, True), "track_running_stats": (_bool, True)}
_RNN: Arguments = {"input_size": (_size, _REQUIRED), "hidden_size": (_positive, _REQUIRED), "num_layers": (_positive, 1),
        "bias": (_bool, True), "batch_first": (_bool, False), "dropout": (_number, 0.0),
        "bidirectional": (_bool, False)}

# layer name -> {argument: (check, default or _REQUIRED)}
ARGUMENTS: Dict[str, Arguments] = {
    "Linear": {"in_features": (_size, _REQUIRED), "out_features": (_size, _REQUIRED), "bias": (_bool, True)},
    "Flatten": {"start_axis": (_is_int, 1), "end_axis": (_is_int, -1)},
    "Dropout": {"p": (_number, 0.5)},
    "Embedding": {"num_embeddings": (_size, _REQUIRED), "embedding_dim": (_size, _REQUIRED)},
    "Conv1d": _conv(1), "Conv2d": _conv(2),
    "MaxPool1d": _pool(1), "MaxPool2d": _pool(2), "AvgPool1d": _pool(1), "AvgPool2d": _pool(2),
    "BatchNorm1d": _BATCHNORM, "BatchNorm2d": _BATCHNORM,
    "LayerNorm": {"normalized_shape": (_shape_list, _REQUIRED), "eps": (_number, 1e-5),
                  "elementwise_affine": (_bool, True)},
    "LSTM": _RNN, "GRU": _RNN,
    "RNN": dict(_RNN, nonlinearity=(lambda v: v in ("tanh", "relu"), "tanh")),
    "Identity": {},
}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _activation_arguments() -> None:
    """Activation layers take their keyword defaults' types (float -> number, int -> int, str -> str)."""
    from .activations import ACTIVATIONS
    kinds = {float: _number, int: _is_int, str: _string}
    for cls in ACTIVATIONS.values():
        ARGUMENTS[cls.__name__] = {k: (kinds[type(v)], v) for k, v in cls().kw.items()}


_activation_arguments()
for _flat_spot in ("Sigmoid", "Tanh"):      # Fahlman's option, stored only when not 0 (nn/activations.py)
    ARGUMENTS[_flat_spot]["prime_offset"] = (lambda v: _number(v) and v >= 0, 0.0)


def _cascade_hidden(v: Any) -> bool:
    from .cascade import HIDDEN_KINDS, MAX_HIDDEN_UNITS
    return isinstance(v, list) and len(v) <= MAX_HIDDEN_UNITS and all(k in HIDDEN_KINDS for k in v)


def _cascade_output(v: Any) -> bool:
    from .cascade import UNIT_KINDS
    return isinstance(v, str) and v in UNIT_KINDS


ARGUMENTS["CascadeNetwork"] = {"n_inputs": (_positive, _REQUIRED), "n_outputs": (_positive, _REQUIRED),
                               "hidden": (_cascade_hidden, []), "output": (_cascade_output, "sigmoid_symmetric")}


def _leaf_state(kind: str, a: Dict[str, Any]) -> State:
    """The parameters and buffers a leaf layer with arguments ``a`` (all checked) holds."""
    state: State = {}
    if kind == "Linear":
        state["weight"] = ((a["in_features"], a["out_features"]), "f")
        if a["bias"]:
            state["bias"] = ((a["out_features"],), "f")
    elif kind == "Embedding":
        state["weight"] = ((a["num_embeddings"], a["embedding_dim"]), "f")
    elif kind in ("Conv1d", "Conv2d"):
        d = 1 if kind == "Conv1d" else 2
        if a["in_channels"] % a["groups"] or a["out_channels"] % a["groups"]:
            raise ArchitectureError(f"{kind}: in_channels {a['in_channels']} and out_channels "
                                    f"{a['out_channels']} must both be divisible by groups={a['groups']}")
        k = a["kernel_size"]
        kernel = tuple(k) if isinstance(k, list) else (k,) * d
        state["weight"] = ((a["out_channels"], a["in_channels"] // a["groups"]) + kernel, "f")
        if a["bias"]:
            state["bias"] = ((a["out_channels"],), "f")
    elif kind in ("BatchNorm1d", "BatchNorm2d"):
        n = (a["num_features"],)
        if a["affine"]:
            state.update(weight=(n, "f"), bias=(n, "f"))
        if a["track_running_stats"]:
            state.update(running_mean=(n, "f"), running_var=(n, "f"), num_batches_tracked=((), "i"))
    elif kind == "LayerNorm":
        s = a["normalized_shape"]
        shape = tuple(s) if isinstance(s, list) else (s,)
        if a["elementwise_affine"]:
            state.update(weight=(shape, "f"), bias=(shape, "f"))
    elif kind in _GATES:
        state = _recurrent_state(kind, a)
    elif kind == "CascadeNetwork":          # unit k: Linear(n_inputs + k, 1); outputs see inputs and every unit
        n_in, k = a["n_inputs"], len(a["hidden"])
        for i in range(k):
            state.update({f"units.{i}.weight": ((n_in + i, 1), "f"), f"units.{i}.bias": ((1,), "f")})
        state.update({"output.weight": ((n_in + k, a["n_outputs"]), "f"), "output.bias": ((a["n_outputs"],), "f")})
    return state


def _recurrent_state(kind: str, a: Dict[str, Any]) -> State:
    gates, hidden = _GATES[kind] * a["hidden_size"], a["hidden_size"]
    directions = 2 if a["bidirectional"] else 1
    state: State = {}
    for layer in range(a["num_layers"]):
        size_in = a["input_size"] if layer == 0 else hidden * directions
        for d in range(directions):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            state[f"weight_ih{sfx}"] = ((gates, size_in), "f")
            state[f"weight_hh{sfx}"] = ((gates, hidden), "f")
            if a["bias"]:
                state[f"bias_ih{sfx}"] = ((gates,), "f")
                state[f"bias_hh{sfx}"] = ((gates,), "f")
    return state


def _child_name(name: Any, where: str) -> str:
    from .module import Module
    if not (isinstance(name, str) and 0 < len(name) <= 200 and "." not in name
            and not name.startswith("_") and not hasattr(Module, name) and name != "training"):
        raise ArchitectureError(f"{where}: child name {name!r:.60} is not allowed (a non-empty string "
                                "without '.', not starting with '_', not an attribute of Module)")
    return name


class _Walk:
    """One walk over a description, counting modules and tensors against the limits."""

    def __init__(self, max_tensors: Optional[int]) -> None:
        self.modules = 0
        self.max_tensors = max_tensors
        self.state: State = {}

    def visit(self, desc: Any, prefix: str, depth: int) -> None:
        where = prefix or "the top level"
        if depth > MAX_DEPTH:
            raise ArchitectureError(f"{where}: the architecture nests deeper than {MAX_DEPTH} levels")
        self.modules += 1
        if self.modules > MAX_MODULES:
            raise ArchitectureError(f"the architecture has more than {MAX_MODULES} modules")
        if not isinstance(desc, dict) or not isinstance(desc.get("type"), str):
            raise ArchitectureError(f"{where}: a layer description must be an object with a string "
                                    f"'type', got {desc!r:.80}")
        kind = desc["type"]
        dot = prefix + "." if prefix else ""
        if kind in ("Sequential", "ModuleList", "ModuleDict"):
            self._keys(desc, {"type", "children"}, set(), where)
            children = desc.get("children", [])
            if not isinstance(children, list):
                raise ArchitectureError(f"{where}: {kind} children must be a list, got {children!r:.80}")
            seen = set()
            for i, item in enumerate(children):
                if not (isinstance(item, list) and len(item) == 2):
                    raise ArchitectureError(f"{where}: {kind} child {i} must be a [name, layer] pair, "
                                            f"got {item!r:.80}")
                name = str(i) if kind == "ModuleList" else _child_name(item[0], where)
                if name in seen:
                    raise ArchitectureError(f"{where}: {kind} has two children named {name!r}")
                seen.add(name)
                self.visit(item[1], dot + name, depth + 1)
            return
        if kind == "Residual":
            self._keys(desc, {"type", "body", "shortcut"}, {"body", "shortcut"}, where)
            self.visit(desc["body"], dot + "body", depth + 1)
            self.visit(desc["shortcut"], dot + "shortcut", depth + 1)
            return
        if kind not in ARGUMENTS:
            raise ArchitectureError(f"unknown layer type {kind!r:.60} in the architecture description; "
                                    f"known: {', '.join(sorted(ARGUMENTS))}")
        self._keys(desc, {"type", "args"}, set(), where)
        args = checked_arguments(kind, desc.get("args", {}), where)
        if kind in _GATES:      # counted before the names are made: num_layers may be 10^9
            count = args["num_layers"] * (2 if args["bidirectional"] else 1) * (4 if args["bias"] else 2)
            self._budget(count)
        leaf = _leaf_state(kind, args)
        self._budget(len(leaf))
        self.state.update((dot + name, spec) for name, spec in leaf.items())

    def _budget(self, more: int) -> None:
        if self.max_tensors is not None and len(self.state) + more > self.max_tensors:
            raise ArchitectureError(f"the architecture needs more than {self.max_tensors} tensors, "
                                    "far more than the file holds")

    @staticmethod
    def _keys(desc: Dict[str, Any], allowed: set, required: set, where: str) -> None:
        extra, missing = set(desc) - allowed, required - set(desc)
        if extra or missing:
            raise ArchitectureError(f"{where}: a {desc['type']} description has unexpected keys "
                                    f"{sorted(extra)} / lacks {sorted(missing)}")


def checked_arguments(kind: str, args: Any, where: str = "") -> Dict[str, Any]:
    """``args`` of layer ``kind`` with defaults filled in, each checked; ArchitectureError otherwise."""
    label = f"{where}: {kind}" if where else kind
    if not isinstance(args, dict):
        raise ArchitectureError(f"{label}: arguments must be an object, got {args!r:.80}")
    table = ARGUMENTS[kind]
    unknown = sorted(set(args) - set(table))
    if unknown:
        raise ArchitectureError(f"{label}: unknown arguments {unknown}; it takes {sorted(table)}")
    out = {}
    for name, (check, default) in table.items():
        if name not in args:
            if default is _REQUIRED:
                raise ArchitectureError(f"{label}: the required argument {name!r} is missing")
            out[name] = default
            continue
        if not check(args[name]):
            raise ArchitectureError(f"{label}: argument {name}={args[name]!r:.60} has the wrong type or range")
        out[name] = args[name]
    return out


def expected_state(desc: Any, max_tensors: Optional[int] = None) -> State:
    """``{state-dict name: (shape, kind)}`` of the module ``desc`` describes; nothing is built.

    ``kind`` is "f" for floating-point tensors, "i" for integer ones (BatchNorm's counter). With
    ``max_tensors`` the walk stops as soon as the description needs more tensors than that (the
    number in the file). Raises :class:`ArchitectureError` for any malformed description.
    """
    walk = _Walk(max_tensors)
    walk.visit(desc, "", 0)
    return walk.state


def children_of(desc: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """[(name, child description)] of a container description already checked by ``expected_state``."""
    return [(str(i) if desc["type"] == "ModuleList" else name, d)
            for i, (name, d) in enumerate(desc.get("children", []))]
