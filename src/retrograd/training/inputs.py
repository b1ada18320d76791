"""What ``fit`` accepts: its counts and sizes, the data arrays (kind, emptiness, finiteness, the dtype
rule) and the pairing of model, optimizer and data.

Every check runs once, before the first step, and names the argument at fault; bad values in
the data are reported as :class:`~retrograd.data.errors.DataError` (a ``ValueError``) with the
array and the index of the first one.

The dtype rule: the model computes in its parameters' dtype (they must all share one). Floating
X and y, and integer or boolean X (unless the model looks its inputs up in an ``Embedding``), are
cast to that dtype once, when ``fit`` starts; integer y (class labels) stay integers. Casting
float64 data into a float32 model rounds each value to the nearest float32, which is what a
float32 model means and is not warned about; a value too large for the dtype (it would become
Inf) is refused as bad data, and integers beyond the dtype's exact range (2**24 for float32) are
rounded with a warning.
"""
import math
import numbers
import warnings
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..autograd.tensor import Tensor
from ..data.errors import DataError
from ..nn.arguments import real_number, whole_number

__all__ = ["as_arrays", "as_inputs", "cast", "check_bptt", "check_finite", "check_model_and_optimizer",
           "real_number", "split_validation", "whole_number"]

# dtype kinds fit computes with: floating, signed and unsigned integers, booleans
_NUMERIC_KINDS = "fiub"
_KIND_NAMES = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
               "M": "datetimes", "m": "timedeltas", "V": "structured records"}


def check_model_and_optimizer(model: Any, optimizer: Any) -> np.dtype:
    """The dtype the model computes in, after checking that ``optimizer`` trains ``model``.

    An optimizer built on another model's parameters would silently train nothing: that is
    refused. One that holds only some of them (training a part of the model) is allowed with a
    warning naming the left-out parameters, unless those are frozen (``requires_grad=False``).
    """
    if not callable(model) or not hasattr(model, "parameters"):
        raise TypeError(f"fit(): model must be a retrograd.nn.Module, got {type(model).__name__}")
    if isinstance(optimizer, str) or not callable(getattr(optimizer, "step", None)):
        shown = f"the string {optimizer!r}" if isinstance(optimizer, str) else type(optimizer).__name__
        raise TypeError(f"fit(): optimizer must be an optimizer object such as "
                        f"rg.optim.get('adam', model.parameters(), lr=1e-3), got {shown}")
    named = (list(model.named_parameters()) if hasattr(model, "named_parameters")
             else [(str(i), p) for i, p in enumerate(model.parameters())])
    trainable = [(n, p) for n, p in named if getattr(p, "requires_grad", False)]
    if not trainable:
        raise ValueError(f"fit(): the model ({type(model).__name__}) has no trainable parameters")
    dtypes = sorted({str(p.data.dtype) for _, p in named})
    if len(dtypes) > 1:
        raise ValueError(f"fit(): the model's parameters mix dtypes {dtypes}; give them one dtype "
                         f"with model.to(np.float32) or model.to(np.float64)")
    groups = getattr(optimizer, "param_groups", None)
    if groups is not None:      # a duck-typed optimizer without groups cannot be checked
        held = {id(p) for g in groups for p in g["params"]}
        missing = [n for n, p in trainable if id(p) not in held]
        if len(missing) == len(trainable):
            raise ValueError(f"fit(): the optimizer ({type(optimizer).__name__}) holds none of the "
                             f"model's {len(trainable)} trainable parameters, so training would change "
                             "nothing: it was built on another model's parameters. Build it with "
                             "model.parameters() of the model given to fit")
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            warnings.warn(f"fit(): the optimizer does not hold {len(missing)} of the model's "
                          f"{len(trainable)} trainable parameters ({shown}); they will not be "
                          "trained. Freeze them with requires_grad=False to say so, or build the "
                          "optimizer on model.parameters()", UserWarning, stacklevel=4)
    return np.dtype(named[0][1].data.dtype)


def as_arrays(data: Any, dtype: Optional[np.dtype], what: str,
              integer_inputs: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(X, y) NumPy arrays from the pair ``data``, checked and cast by the dtype rule above.

    ``what`` names the argument in messages ("train_data"); ``integer_inputs`` keeps integer X
    integer (indices for an Embedding).
    """
    if isinstance(data, (str, bytes)):
        raise TypeError(f"fit(): {what} must be a pair (X, y) of arrays, got a string")
    try:
        X, y = data
    except (TypeError, ValueError):
        raise TypeError(f"fit(): {what} must be a pair (X, y) of arrays, got "
                        f"{type(data).__name__}") from None
    X = _numeric(X, f"{what} X")
    y = _numeric(y, f"{what} y")
    if len(X) != len(y):
        raise ValueError(f"fit(): {what} has {len(X)} inputs (X shape {X.shape}) but {len(y)} "
                         f"targets (y shape {y.shape}); they must have the same first dimension")
    if len(X) == 0:
        raise ValueError(f"fit(): {what} is empty (X shape {X.shape}): there is nothing to "
                         "train or evaluate on")
    check_finite(X, f"{what} X")
    check_finite(y, f"{what} y")
    if dtype is not None:
        if X.dtype.kind in ("f" if integer_inputs else "fiub"):
            X = cast(X, dtype, f"{what} X")
        if y.dtype.kind == "f":
            y = cast(y, dtype, f"{what} y")
    return X, y


def as_inputs(X: Any, dtype: Optional[np.dtype], what: str = "X",
              integer_inputs: bool = False) -> np.ndarray:
    """One input array (for ``predict``), checked and cast by the same rule as training inputs."""
    X = _numeric(X, what)
    check_finite(X, what)
    if dtype is not None and X.dtype.kind in ("f" if integer_inputs else "fiub"):
        X = cast(X, dtype, what)
    return X


def _numeric(a: Any, what: str) -> np.ndarray:
    """``a`` as a NumPy array of at least one axis with a real numeric dtype, else TypeError/ValueError."""
    if isinstance(a, Tensor):
        a = a.data
    if isinstance(a, (str, bytes)):
        raise TypeError(f"fit(): {what} must be an array of numbers, got a string")
    try:
        arr = np.asarray(a)
    except ValueError as e:       # ragged nested lists
        raise ValueError(f"fit(): {what} cannot be made into an array: {e}") from None
    kind = arr.dtype.kind
    if kind not in _NUMERIC_KINDS:
        found = _KIND_NAMES.get(kind, str(arr.dtype))
        hint = (" (encode text labels as integers, e.g. with numpy.unique(y, return_inverse=True))"
                if kind in "USO" else "")
        raise TypeError(f"fit(): {what} must hold real numbers, got dtype {arr.dtype} ({found}){hint}")
    if arr.ndim == 0:
        raise ValueError(f"fit(): {what} must have a first (examples) axis, got the scalar {arr!r}")
    return arr


def check_finite(a: np.ndarray, what: str) -> None:
    """Raise DataError naming the first NaN or Inf of ``a`` by its index (rows are axis 0)."""
    if a.dtype.kind != "f" or np.isfinite(a).all():
        return
    bad = ~np.isfinite(a)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    name = what.split()[-1]
    where = f"row {first[0]}" + (f", column {first[1]}" if len(first) == 2 else
                                 f", position {first[1:]}" if len(first) > 2 else "")
    rows = int(bad.reshape(len(a), -1).any(axis=1).sum())
    raise DataError(f"fit(): {what} holds {a[first]} at {name}[{', '.join(map(str, first))}] "
                    f"({where}); {rows} of its {len(a)} rows hold NaN or Inf. This is bad data, "
                    "not a learning-rate problem: remove or impute those values before training")


def cast(a: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
    """``a`` in ``dtype`` (the parameters' dtype); refuses values that would overflow to Inf."""
    dtype = np.dtype(dtype)
    if a.dtype == dtype:
        return a
    if a.dtype.kind in "iu" and a.size:
        exact = 2 ** (np.finfo(dtype).nmant + 1)
        largest = max(abs(int(a.min())), abs(int(a.max())))
        if largest > exact:
            warnings.warn(f"fit(): {what} holds integers up to {largest}, beyond {dtype}'s exact "
                          f"range (2**{np.finfo(dtype).nmant + 1}); they are rounded", UserWarning,
                          stacklevel=5)
    with np.errstate(over="ignore"):
        out = a.astype(dtype)
    if a.dtype.kind == "f" and a.dtype.itemsize > dtype.itemsize and not np.isfinite(out).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise DataError(f"fit(): {what} holds {a[first]} at index {list(first)}, too large for the "
                        f"model's dtype {dtype} (largest {np.finfo(dtype).max:.4g}); rescale the "
                        "data (e.g. standardise it) or build the model in float64")
    return out


def split_validation(X: np.ndarray, y: np.ndarray, validation_data: Any,
                     split: Any) -> Tuple[np.ndarray, np.ndarray, Any]:
    """Hold out the last ``split`` fraction (before any shuffling) when no validation data is given."""
    if not split:
        return X, y, validation_data
    if validation_data is not None:
        raise ValueError("fit(): give validation_data or validation_split, not both")
    fraction = real_number(split, "fit(): validation_split")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fit(): validation_split must be in (0, 1), got {split}")
    n_val = int(math.ceil(len(X) * fraction))
    if n_val >= len(X):
        raise ValueError(f"fit(): validation_split={split} leaves no training data of {len(X)} examples")
    cut = len(X) - n_val
    return X[:cut], y[:cut], (X[cut:], y[cut:])


def check_bptt(bptt: Any) -> Optional[Sequence[int]]:
    """``bptt`` as (k1, k2) of whole numbers >= 1, or None."""
    if bptt is None:
        return None
    pair = (bptt, bptt) if isinstance(bptt, numbers.Real) else bptt
    try:
        k1, k2 = pair
    except (TypeError, ValueError):
        raise TypeError(f"fit(): bptt must be an int or a pair (k1, k2), got {bptt!r}") from None
    return whole_number(k1, "fit(): bptt k1", 1), whole_number(k2, "fit(): bptt k2", 1)
