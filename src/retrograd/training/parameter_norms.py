"""ParameterNorms: a callback recording each parameter tensor's weight, gradient and update norms once per epoch.

The learning process layer by layer: how large each layer's weights grow,
how large its gradient is (vanishing or exploding gradients show up here
first), and how far one epoch moves it relative to its size (‖ΔW‖/‖W‖, the
classic "update ratio"; around 1e-3 per step is the usual healthy range).
The cost is a few dot products and one copy per tensor per epoch, nothing
per batch: on W2 (45 batches an epoch) it measured well under 5% of the
training time (benchmarks/bench_layer_norms.py).
"""
import math
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np

from ..autograd.tensor import Tensor
from .callbacks import Callback
from .csv_logger import write_atomic

COLUMNS = ("epoch", "parameter", "shape", "weight_norm", "grad_norm", "update_norm")


def _norm(array: Any) -> float:
    """The 2-norm of an array of any shape (NumPy or CuPy), in float64."""
    if isinstance(array, np.ndarray):
        return math.sqrt(float(np.vdot(array, array)))                 # vdot flattens (a view when contiguous)
    return math.sqrt(float((array * array).sum()))                     # CuPy: stays on the device


class ParameterNorms(Callback):
    """Per-epoch norms of every parameter tensor: ``‖W‖``, ``‖∇W‖`` and ``‖W_epoch − W_previous‖``.

    Epoch 0 is the initial state (weights only). The gradient is the one the
    last step of the epoch left in ``.grad`` (the exact gradient in batch
    mode, the last mini-batch's otherwise); a tensor without one (e.g. under
    Levenberg-Marquardt, which builds the Jacobian itself) records NaN.
    ``every=k`` records every k-th epoch (and the last); ``updates=False``
    skips the update norms and the copy of the weights they need.

    After training: ``records`` (a list of dicts with the keys of
    ``COLUMNS``), ``seconds`` (the time the callback itself took), and
    ``to_csv(path)``.
    """

    trainer: Any = None

    def __init__(self, every: int = 1, updates: bool = True):
        if int(every) < 1:
            raise ValueError(f"ParameterNorms: every must be a positive number of epochs, got {every}")
        self.every = int(every)
        self.updates = bool(updates)
        self._rows: List[tuple] = []
        self.seconds = 0.0
        self._previous: Dict[str, Any] = {}

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        start = time.perf_counter()
        self._named = list(self.trainer.model.named_parameters())
        if not self._rows:                          # a resumed run keeps its rows (see load_state_dict)
            self._record(self.trainer.epoch, with_grad=False)
        elif self.updates:
            self._previous = {name: p.data.copy() for name, p in self._named}
        self.seconds += time.perf_counter() - start

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        done = epoch + 1
        if done % self.every and done < self.trainer.epochs and not self.trainer.stop_training:
            return
        start = time.perf_counter()
        self._record(done, with_grad=True)
        self.seconds += time.perf_counter() - start

    def _record(self, epoch: int, with_grad: bool) -> None:
        # plain tuples and one vdot per norm: about 10 us per tensor, mostly NumPy's call overhead
        nan = float("nan")
        previous = self._previous
        for name, p in self._named:
            w = p.data
            g = p.grad if with_grad else None
            grad = _norm(g.data if isinstance(g, Tensor) else g) if g is not None else nan
            update = nan
            if self.updates:
                before = previous.get(name)
                if before is not None and before.shape == w.shape:
                    update = _norm(w - before)
                    before[...] = w                          # reuse the copy: no allocation per epoch
                else:
                    previous[name] = w.copy()
            self._rows.append((epoch, name, w.shape, _norm(w), grad, update))

    @property
    def records(self) -> List[Dict[str, Any]]:
        """One dict per epoch and tensor, with the keys of ``COLUMNS``."""
        return [dict(zip(COLUMNS, (e, n, "x".join(map(str, shape)), wn, gn, un)))
                for e, n, shape, wn, gn, un in self._rows]

    def to_csv(self, path: "str | os.PathLike[str]") -> str:
        """Write the records as CSV (one row per epoch and tensor), atomically; returns the path."""
        lines = [",".join(COLUMNS)]
        for r in self.records:
            lines.append(",".join(_cell(r[c]) for c in COLUMNS))
        write_atomic(os.fspath(path), "\n".join(lines) + "\n")
        return os.fspath(path)

    # resume support: the rows so far travel in the checkpoint's JSON
    def state_dict(self) -> Dict[str, Any]:
        return {"records": self.records, "seconds": self.seconds}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._rows = [(int(r["epoch"]), r["parameter"], tuple(int(v) for v in r["shape"].split("x") if v),
                       float(r["weight_norm"]), float(r["grad_norm"]), float(r["update_norm"]))
                      for r in state.get("records", [])]
        self.seconds = float(state.get("seconds", 0.0))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def read_norms_csv(path: "str | os.PathLike[str]") -> List[Dict[str, Any]]:
    """The rows of a norms CSV written by ``ParameterNorms.to_csv`` (NaN for empty cells)."""
    import csv
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(COLUMNS) - set(rows[0]):
        raise ValueError(f"{path}: not a parameter-norms file; it needs the columns {', '.join(COLUMNS)}")
    out = []
    for line, r in enumerate(rows, 2):
        try:
            out.append({"epoch": int(r["epoch"]), "parameter": r["parameter"], "shape": r["shape"],
                        **{k: float(r[k]) if r[k] != "" else float("nan")
                           for k in ("weight_norm", "grad_norm", "update_norm")}})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}, line {line}: {exc}") from None
    return out
