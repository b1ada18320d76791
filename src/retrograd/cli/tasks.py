"""What a target column asks for: the task rule (classification, binary, regression), class labels, target scaling.

The rule, applied when ``[data] task = "auto"`` (``--task`` or ``[data] task`` overrides it):

- text labels (``virginica``) are classes;
- several target columns (NPZ, the generated classics) are ``binary`` when every value is 0 or 1,
  else ``regression``;
- one column of whole numbers is classification when it has at most ``MAX_AUTO_CLASSES`` (20)
  distinct values and, beyond two values, no more than half as many distinct values as rows
  (a class needs examples to learn from); otherwise the numbers are read as a quantity
  (scikit-learn's diabetes target holds 214 distinct integers in 442 rows: regression);
- anything else (non-integer values) is regression.

Classes are the sorted distinct labels (text sorted as text, numbers by value); the model's
output k stands for ``classes[k]``, and the list is stored in run.json so that ``predict``
writes the labels back. Regression targets are standardised on the training part (mean 0,
std 1 per column) and every prediction is un-scaled before anyone sees it.
"""
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..data.errors import DataError

MAX_AUTO_CLASSES = 20


@dataclass
class TaskChoice:
    """The task a run trains for and the one-line reason it was chosen."""
    task: str
    reason: str


def _is_text(y: np.ndarray) -> bool:
    return y.dtype.kind in ("U", "S", "O")


def _integral(y: np.ndarray) -> bool:
    return bool(np.issubdtype(y.dtype, np.integer) or np.all(y == np.round(y)))


def _preview(values: Sequence[Any], count: int = 4) -> str:
    shown = ", ".join(str(v) for v in values[:count])
    return shown + (", ..." if len(values) > count else "")


def detect_task(y: Any, requested: str = "auto") -> TaskChoice:
    """The task for targets ``y`` by the module's rule, or ``requested`` when it is not 'auto'.

    A requested task that the targets cannot serve (regression on text labels, classification
    on non-integer numbers, binary on anything but 0/1 or two classes) is a DataError.
    """
    y = np.asarray(y)
    if requested != "auto":
        _check_requested(y, requested)
        return TaskChoice(requested, "set by [data] task / --task")
    if _is_text(y):
        classes = class_list(y)
        return TaskChoice("classification", f"the target holds {len(classes)} text labels ({_preview(classes)})")
    if y.ndim > 1:                       # target columns (an NPZ, the generated classics)
        width = int(np.prod(y.shape[1:]))
        if np.isin(y, (0, 1)).all():
            return TaskChoice("binary", f"{width} target column(s) of 0/1 values")
        if width > 1:
            return TaskChoice("regression", f"{width} target columns that are not all 0/1")
    flat = y.reshape(len(y))
    if not _integral(flat):
        example = flat[flat != np.round(flat)][0]
        return TaskChoice("regression", f"the target holds non-integer values (e.g. {example:g})")
    distinct = len(np.unique(flat))
    counts = f"{distinct} distinct whole numbers in {len(flat)} rows"
    if distinct <= MAX_AUTO_CLASSES and (distinct <= 2 or distinct <= len(flat) / 2):
        return TaskChoice("classification", f"the target holds {counts} (at most {MAX_AUTO_CLASSES}: classes)")
    return TaskChoice("regression", f"the target holds {counts}: more than {MAX_AUTO_CLASSES} or more than half "
                      "the rows, so they are read as a quantity (--task classification to treat them as classes)")


def _check_requested(y: np.ndarray, task: str) -> None:
    if task == "regression" and _is_text(y):
        raise DataError(f"[data] task = 'regression' needs numeric targets; the target holds text labels "
                        f"({_preview(class_list(y))})")
    if task == "classification" and not _is_text(y):
        if y.ndim > 1 and y.shape[1:] != (1,):
            raise DataError(f"[data] task = 'classification' needs one column of labels; the targets have "
                            f"shape {y.shape} (use task = 'binary' for 0/1 columns)")
        if not _integral(y):
            example = y[y != np.round(y)].ravel()[0]
            raise DataError(f"[data] task = 'classification' needs class labels; the target holds "
                            f"non-integer values such as {example:g} (use task = 'regression')")
    if task == "binary":
        if _is_text(y) or y.ndim == 1:
            if len(class_list(y)) > 2:
                raise DataError(f"[data] task = 'binary' needs two classes; the target holds "
                                f"{len(class_list(y))} ({_preview(class_list(y))})")
        elif not np.isin(y, (0, 1)).all():
            raise DataError("[data] task = 'binary' needs targets of 0 and 1 only")


# ---------------------------------------------------------------------------- class labels
def class_list(*arrays: Any) -> list:
    """The sorted distinct labels of one or more label arrays, as JSON-able Python values."""
    values = np.concatenate([np.asarray(a).reshape(-1) for a in arrays if len(a)])
    if _is_text(values):
        return sorted({str(v) for v in values})
    return sorted({int(v) for v in values.tolist()})


def encode_labels(y: Any, classes: Sequence[Any], source: Any) -> np.ndarray:
    """Indices into ``classes`` for each label of ``y``; a label that is not a class is a DataError."""
    y = np.asarray(y).reshape(-1)
    keys: list
    lookup: dict
    if classes and isinstance(classes[0], str):
        keys = [str(v) for v in y.tolist()]
        lookup = {c: k for k, c in enumerate(classes)}
    else:
        if _is_text(y):
            raise DataError(f"the target holds text labels ({_preview(class_list(y))}) but the model's classes "
                            f"are numbers ({_preview(list(classes))})", source)
        if not _integral(y):
            raise DataError(f"class labels must be whole numbers; found {y[y != np.round(y)][0]:g}", source)
        keys = [int(v) for v in y.tolist()]
        lookup = {int(c): k for k, c in enumerate(classes)}
    unknown = sorted({k for k in keys if k not in lookup}, key=str)
    if unknown:
        first = next(i for i, k in enumerate(keys) if k not in lookup)
        raise DataError(f"labels {unknown[:10]} are not among the model's classes ({_preview(list(classes), 10)}); "
                        f"first at row {first + 1}", source)
    return np.fromiter((lookup[k] for k in keys), dtype=np.int64, count=len(keys))


def decode_labels(indices: np.ndarray, classes: Optional[Sequence[Any]]) -> list:
    """The class labels for model output indices (the indices themselves without a class list)."""
    if not classes:
        return [int(i) for i in indices]
    return [classes[int(i)] for i in indices]


# ---------------------------------------------------------------------------- regression targets
class TargetScaling:
    """Per-column standardisation of regression targets, fitted on the training targets.

    The model learns ``(y - mean) / std``; ``unscale`` maps its outputs back to the data's units.
    A column with zero spread keeps std 1.
    """

    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)

    @classmethod
    def fit(cls, y: Any) -> "TargetScaling":
        """Mean and std (ddof 0) of each column of ``y``."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        std = y.std(axis=0)
        return cls(y.mean(axis=0), np.where(std > 0, std, 1.0))

    @classmethod
    def identity(cls, width: int) -> "TargetScaling":
        """No scaling (mean 0, std 1), for runs that keep their targets as they are."""
        return cls(np.zeros(width), np.ones(width))

    def scale(self, y: Any) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        return (y.reshape(len(y), -1) - self.mean) / self.std

    def unscale(self, outputs: Any) -> np.ndarray:
        outputs = np.asarray(outputs, dtype=np.float64)
        return outputs.reshape(len(outputs), -1) * self.std + self.mean

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "TargetScaling":
        return cls(d["mean"], d["std"])
