"""Checkpoints: model, optimizer, schedule, RNG and data-order state in one atomic safetensors file."""
import json
import numbers
import os

import numpy as np

from .. import backend
from ..backend import to_host
from ..autograd.tensor import Tensor
from .callbacks import Callback

FORMAT = "retrograd-checkpoint"
VERSION = "1"


class Checkpoint(Callback):
    """Write a checkpoint every ``every`` epochs (and when training ends) to ``path``.

    The file is written with ``rg.io.save_tensors`` (temp file, fsync, rename),
    so a process killed at any moment leaves either the previous checkpoint or
    the new one, never half of one. Resume with ``fit(..., resume=path)``: the
    run then continues exactly, bit for bit, as if it had never stopped.
    """

    def __init__(self, path, every=1):
        self.path = os.fspath(path)
        if int(every) < 1:
            raise ValueError(f"Checkpoint(every={every}): must be >= 1 epoch")
        self.every = int(every)
        self._saved_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        # After a divergence the optimizer state may hold Inf/NaN: keep the last good checkpoint.
        if self._saved_epoch != self.trainer.epoch and not self.trainer.diverged:
            self.save()

    def save(self):
        save_checkpoint(self.trainer, self.path)
        self._saved_epoch = self.trainer.epoch


def save_checkpoint(trainer, path):
    """Write everything needed to continue ``trainer``'s run to ``path``."""
    from .. import io
    arrays = {}
    state = {
        "trainer": trainer.state_dict(),
        "optimizer": _encode(trainer.optimizer.state_dict(), "optimizer", arrays),
        "callbacks": [_encode(cb.state_dict(), f"callback{i}", arrays) if hasattr(cb, "state_dict")
                      else None for i, cb in enumerate(trainer.callbacks.callbacks)],
        "global_rng": backend.default_generator().bit_generator.state,
    }
    for name, t in trainer.model.state_dict().items():
        arrays["model." + name] = to_host(t.data if isinstance(t, Tensor) else t)
    metadata = {"format": FORMAT, "version": VERSION, "state": json.dumps(state)}
    io.save_tensors(arrays, path, metadata=metadata)


# Errors the running objects' own load_state_dict raise for values of the right structure that do
# not fit them (a generator state for another generator, a tensor of another dtype): reported as
# the checkpoint's fault, with the file named.
_APPLY_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError)
MAX_STATE_DEPTH = 32    # optimizer/callback state nests 4-6 levels


def load_checkpoint(trainer, path):
    """Put ``trainer`` (model, optimizer, callbacks, RNGs, epoch, history) back where ``path`` left it.

    The file goes through the safetensors reader (``rg.io.load_tensors``), then its JSON state is
    checked against this run before anything is applied: the optimizer's parameter groups must
    have the same hyperparameters with values of the same kinds, the callbacks must be as many,
    every encoded array must exist. Raises ``SafetensorsError`` (a ValueError) naming the file for
    a damaged file, a file that is not a checkpoint, or a checkpoint that does not fit this run;
    OSError when the file cannot be read.
    """
    from .. import io
    from ..io import SafetensorsError
    path = os.fspath(path)

    def fail(problem):
        raise SafetensorsError(f"{path}: {problem}")

    arrays, metadata = io.load_tensors(path)
    if metadata.get("format") != FORMAT:
        fail(f"not a retrograd training checkpoint (format {metadata.get('format')!r:.60}); model files "
             "from rg.save load with rg.load")
    if metadata.get("version") != VERSION:
        fail(f"checkpoint format version {metadata.get('version')!r:.20} is not one this retrograd reads "
             f"({VERSION})")
    state = _parse_state(metadata.get("state"), fail)
    optimizer_state = _decode(state["optimizer"], arrays, fail)
    _check_optimizer_state(trainer.optimizer, optimizer_state, fail)
    saved_cbs = state["callbacks"]
    cbs = trainer.callbacks.callbacks
    if len(saved_cbs) != len(cbs):
        fail(f"the checkpoint was written with {len(saved_cbs)} callbacks (stopping rules included) but "
             f"this fit() has {len(cbs)}; resume with the same callbacks, stop= and scheduler= as the "
             "original run")
    cb_states = [None if s is None else _decode(s, arrays, fail) for s in saved_cbs]
    model_state = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    try:
        trainer.model.load_state_dict(model_state)
        trainer.optimizer.load_state_dict(optimizer_state)
        for cb, cb_state in zip(cbs, cb_states):
            if cb_state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(cb_state)
        backend.default_generator().bit_generator.state = state["global_rng"]
        trainer.load_state_dict(state["trainer"])
    except _APPLY_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        fail(f"the checkpoint does not fit this run ({type(exc).__name__}: {str(message)[:300]})")


def _parse_state(text, fail):
    """The checkpoint's JSON state, with the top-level structure checked."""
    if not isinstance(text, str):
        fail("the checkpoint has no training state (metadata key 'state'): damaged")
    try:
        state = json.loads(text)
    except (ValueError, RecursionError) as exc:      # JSONDecodeError is a ValueError
        fail(f"the training state is not valid JSON ({type(exc).__name__}: {str(exc)[:200]}): damaged")
    kinds = {"trainer": dict, "optimizer": dict, "callbacks": list, "global_rng": dict}
    if not isinstance(state, dict) or any(not isinstance(state.get(k), t) for k, t in kinds.items()):
        fail("the training state must be an object with 'trainer', 'optimizer', 'callbacks' and "
             "'global_rng': damaged")
    trainer = state["trainer"]
    epoch = trainer.get("epoch")
    if type(epoch) is not int or epoch < 0 or not isinstance(trainer.get("history"), dict) \
            or not isinstance(trainer.get("order", {}), dict):
        fail("the trainer state must hold an epoch count (an integer >= 0), a history and a data order: "
             "damaged")
    return state


def _kind(value):
    """The JSON kind of a hyperparameter: None and numbers mix (optional ones, clip_norm=None)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if value is None or isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, np.ndarray):
        return "array"
    if isinstance(value, (list, tuple)):
        return "list"
    return "str" if isinstance(value, str) else "other"


def _same_kind(saved, live):
    """True when ``saved`` (from JSON) can stand where ``live`` is: same kinds, lists element by element."""
    if _kind(saved) != _kind(live):
        return False
    if _kind(live) == "list":
        return len(saved) == len(live) and all(_same_kind(a, b) for a, b in zip(saved, live))
    return True


def _check_optimizer_state(optimizer, saved, fail):
    """The saved optimizer state must have this optimizer's groups and hyperparameter kinds."""
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list)):
        fail("the optimizer state must hold 'state' and 'param_groups': damaged")
    live = optimizer.param_groups
    if len(saved["param_groups"]) != len(live):
        fail(f"the checkpoint has {len(saved['param_groups'])} parameter groups, this optimizer "
             f"{len(live)}")
    for i, (group, mine) in enumerate(zip(saved["param_groups"], live)):
        if not isinstance(group, dict) or set(group) != set(mine):
            keys = sorted(map(str, group)) if isinstance(group, dict) else group
            fail(f"parameter group {i} holds {keys!s:.200}, this {type(optimizer).__name__} has "
                 f"{sorted(mine)}: written by another optimizer?")
        params = group["params"]
        if not (isinstance(params, list) and len(params) == len(mine["params"])
                and all(type(p) is int for p in params)):
            fail(f"parameter group {i} lists {params!r:.80} where this optimizer has "
                 f"{len(mine['params'])} parameters")
        for key, value in group.items():
            if key != "params" and not _same_kind(value, mine[key]):
                fail(f"parameter group {i}: {key} = {value!r:.60} where this optimizer has "
                     f"{mine[key]!r:.60}")
    params = optimizer.params()
    for index, entry in saved["state"].items():
        if type(index) is not int or not -1 <= index < len(params) or not isinstance(entry, dict):
            fail(f"optimizer state for parameter {index!r:.40}, but there are {len(params)}: damaged")
        if index == -1:
            continue                     # state of the whole optimizer (L-BFGS history, LM's mu): free-form
        shape = tuple(params[index].shape)
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                ok = value.shape == shape
            else:
                ok = value is not None and _kind(value) == "number"
            if not ok:
                fail(f"optimizer state {key!r:.40} of parameter {index} is {str(value)[:60]}, where an "
                     f"array of the parameter's shape {shape} or a number belongs: damaged")


def _encode(obj, prefix, arrays):
    """JSON-able form of nested dicts/lists of arrays and scalars; arrays go into ``arrays`` by key.

    Dicts become {"__dict__": [[key, value], ...]} so integer keys (optimizer
    state is keyed by parameter index) come back as integers.
    """
    if isinstance(obj, Tensor):
        obj = obj.data
    obj = to_host(obj)                     # state on the GPU is stored from a host copy
    if isinstance(obj, np.ndarray):
        key = f"{prefix}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _encode(v, f"{prefix}.{k}", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, f"{prefix}.{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} at {prefix!r}; state_dict() "
                    "values must be arrays, Python scalars, strings, lists or dicts")


def _decode(obj, arrays, fail, depth=0):
    """Invert ``_encode``; ``fail`` is called for anything ``_encode`` cannot have written."""
    if depth > MAX_STATE_DEPTH:
        fail(f"the training state nests deeper than {MAX_STATE_DEPTH} levels: damaged")
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            key = obj["__array__"]
            if not isinstance(key, str) or key not in arrays:
                fail(f"the training state refers to an array {key!r:.60} that the file does not hold: damaged")
            return np.array(arrays[key])
        pairs = obj.get("__dict__")
        if set(obj) != {"__dict__"} or not isinstance(pairs, list) or not all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int)) for p in pairs):
            fail(f"unexpected object {str(obj)[:80]} in the training state: damaged")
        return {k: _decode(v, arrays, fail, depth + 1) for k, v in pairs}
    if isinstance(obj, list):
        return [_decode(v, arrays, fail, depth + 1) for v in obj]
    return obj
