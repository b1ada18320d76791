"""Checkpoints: model, optimizer, schedule, RNG and data-order state in one atomic safetensors file."""
import json
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


def load_checkpoint(trainer, path):
    """Put ``trainer`` (model, optimizer, callbacks, RNGs, epoch, history) back where ``path`` left it."""
    from .. import io
    arrays, metadata = io.load_tensors(os.fspath(path))
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a retrograd training checkpoint (format "
                         f"{metadata.get('format')!r}); model files from rg.save load with rg.load")
    state = json.loads(metadata["state"])
    model_state = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    trainer.model.load_state_dict(model_state)
    trainer.optimizer.load_state_dict(_decode(state["optimizer"], arrays))
    saved_cbs = state["callbacks"]
    cbs = trainer.callbacks.callbacks
    if len(saved_cbs) != len(cbs):
        raise ValueError(f"{path}: the checkpoint was written with {len(saved_cbs)} callbacks "
                         f"(stopping rules included) but this fit() has {len(cbs)}; resume with "
                         "the same callbacks, stop= and scheduler= as the original run")
    for cb, cb_state in zip(cbs, saved_cbs):
        if cb_state is not None and hasattr(cb, "load_state_dict"):
            cb.load_state_dict(_decode(cb_state, arrays))
    backend.default_generator().bit_generator.state = state["global_rng"]
    trainer.load_state_dict(state["trainer"])


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


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return np.array(arrays[obj["__array__"]])
        return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj
