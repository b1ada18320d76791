"""Architecture descriptions: a JSON-able dict for networks built from retrograd layers, and the rebuild.

``describe(module)`` returns e.g. ``{"type": "Sequential", "children": [["0",
{"type": "Linear", "args": {...}}], ...]}``, or None when some part is not
a known retrograd layer (a user subclass): the caller then stores only the
state dict. ``build(desc)`` constructs the module again from that dict; it
only ever instantiates classes from the table below, so a description read
from a file cannot run arbitrary code; ``arch_check`` checks a description
(and gives the tensor shapes it implies) before anything is built.
"""
from . import activations as A
from . import containers as C
from . import cascade, conv, layers, norm, recurrent
from .arch_check import ArchitectureError, children_of, expected_state  # noqa: F401 - re-exported


def _attrs(*names):
    return lambda m: {n: _jsonable(getattr(m, n)) for n in names}


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def _bias(m):
    return m.bias is not None


_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")
_RNN = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional")

# class name -> (class, function giving constructor kwargs)
LEAVES = {
    "Linear": (layers.Linear, lambda m: {"in_features": m.in_features, "out_features": m.out_features,
                                         "bias": _bias(m)}),
    "Flatten": (layers.Flatten, _attrs("start_axis", "end_axis")),
    "Dropout": (layers.Dropout, _attrs("p")),
    "Embedding": (layers.Embedding, _attrs("num_embeddings", "embedding_dim")),
    "Conv1d": (conv.Conv1d, lambda m: dict(_attrs(*_CONV)(m), bias=_bias(m))),
    "Conv2d": (conv.Conv2d, lambda m: dict(_attrs(*_CONV)(m), bias=_bias(m))),
    "MaxPool1d": (conv.MaxPool1d, _attrs("kernel_size", "stride", "padding")),
    "MaxPool2d": (conv.MaxPool2d, _attrs("kernel_size", "stride", "padding")),
    "AvgPool1d": (conv.AvgPool1d, _attrs("kernel_size", "stride", "padding")),
    "AvgPool2d": (conv.AvgPool2d, _attrs("kernel_size", "stride", "padding")),
    "BatchNorm1d": (norm.BatchNorm1d, _attrs("num_features", "eps", "momentum", "affine",
                                             "track_running_stats")),
    "BatchNorm2d": (norm.BatchNorm2d, _attrs("num_features", "eps", "momentum", "affine",
                                             "track_running_stats")),
    "LayerNorm": (norm.LayerNorm, lambda m: {"normalized_shape": list(m.normalized_shape), "eps": m.eps,
                                             "elementwise_affine": m.weight is not None}),
    "LSTM": (recurrent.LSTM, _attrs(*_RNN)),
    "GRU": (recurrent.GRU, _attrs(*_RNN)),
    "RNN": (recurrent.RNN, _attrs(*_RNN, "nonlinearity")),
    "Identity": (C.Identity, lambda m: {}),
    "CascadeNetwork": (cascade.CascadeNetwork, lambda m: {"n_inputs": m.n_inputs, "n_outputs": m.n_outputs,
                                                          "hidden": list(m.hidden), "output": m.output_activation}),
}
for _cls in A.ACTIVATIONS.values():
    LEAVES[_cls.__name__] = (_cls, lambda m: dict(m.kw))


def describe(module):
    """A JSON-able description of ``module``, or None if it contains a layer this table does not know."""
    name = type(module).__name__
    if type(module) in (C.Sequential, C.ModuleList, C.ModuleDict):
        children = []
        for k, child in module.named_children():
            d = describe(child)
            if d is None:
                return None
            children.append([k, d])
        return {"type": name, "children": children}
    if type(module) is C.Residual:
        body, short = describe(module.body), describe(module.shortcut)
        if body is None or short is None:
            return None
        return {"type": "Residual", "body": body, "shortcut": short}
    entry = LEAVES.get(name)
    if entry is None or type(module) is not entry[0]:
        return None
    return {"type": name, "args": entry[1](module)}


def build(desc):
    """The module described by ``desc`` (from ``describe``), freshly initialised.

    The description is checked first, in full, by ``arch_check.expected_state`` (layer types,
    argument types and ranges, nesting depth, module count); any problem, and any error a layer's
    constructor raises for its arguments, is an :class:`ArchitectureError`.
    """
    expected_state(desc)
    return _construct(desc)


def _construct(desc):
    kind = desc["type"]
    if kind in ("Sequential", "ModuleList", "ModuleDict"):
        items = [(k, _construct(d)) for k, d in children_of(desc)]
        if kind == "Sequential":
            from collections import OrderedDict
            return C.Sequential(OrderedDict(items))
        if kind == "ModuleList":
            return C.ModuleList([m for _, m in items])
        return C.ModuleDict(dict(items))
    if kind == "Residual":
        return C.Residual(_construct(desc["body"]), _construct(desc["shortcut"]))
    args = desc.get("args", {})
    try:
        return LEAVES[kind][0](**args)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ArchitectureError(f"cannot build {kind} from {args}: {exc}") from exc
