"""Argument checks for layer constructors and inputs: sizes, rates, dtypes and what a layer may be fed.

Each check raises TypeError for a value of the wrong kind (a string for a size, a complex input)
and ValueError for one out of range (a size of 0, a negative stride), naming the layer and the
argument, at the call that got it rather than deep inside NumPy.
"""
import math
import numbers
import operator
from typing import Any, Optional, Tuple

import numpy as np

from .. import backend

_KIND_NAMES = {"U": "strings", "S": "bytes", "O": "Python objects", "c": "complex numbers",
               "M": "datetimes", "m": "timedeltas", "V": "structured records"}


def whole_number(value: Any, name: str, minimum: Optional[int] = 0) -> int:
    """``value`` as an int >= ``minimum`` (None: any): an int, a NumPy integer or an integral float.

    TypeError for anything that is not a real number (strings, bools, None), ValueError for
    fractions and values below ``minimum``; both name ``name``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")
    if isinstance(value, numbers.Integral):
        number = operator.index(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        number = int(as_float)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return number


def real_number(value: Any, name: str, minimum: Optional[float] = None,
                above: Optional[float] = None, below: Optional[float] = None) -> float:
    """``value`` as a finite float, >= ``minimum``, > ``above`` and < ``below`` where given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    if above is not None and not number > above:
        raise ValueError(f"{name} must be > {above:g}, got {value!r}")
    if below is not None and not number < below:
        raise ValueError(f"{name} must be < {below:g}, got {value!r}")
    return number


def int_tuple(value: Any, d: int, name: str, minimum: int) -> Tuple[int, ...]:
    """An int or a sequence of ``d`` ints (kernel sizes, strides, paddings), each >= ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != d:
            raise ValueError(f"{name} must be an int or a tuple of {d} ints, got {value!r}")
        return tuple(whole_number(v, name, minimum) for v in value)
    return (whole_number(value, name, minimum),) * d


def float_dtype(dtype: Any, owner: str) -> np.dtype:
    """The parameters' dtype: ``dtype`` if it is a floating type, the library default for None."""
    if dtype is None:
        return backend.get_default_dtype()
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: dtype must be a NumPy floating dtype such as np.float32, "
                        f"got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"{owner}: parameters must be floating point (np.float32 or np.float64), "
                        f"got dtype {dt}")
    return dt


def check_input(x: Any, owner: str) -> None:
    """A layer's input must be a Tensor or an array of real numbers (not strings, complex, objects)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        raise TypeError(f"{owner}: input must be a Tensor or an array, got {type(x).__name__}")
    if dtype.kind not in "fiub" and dtype.name != "bfloat16":      # (ml_dtypes' bfloat16 has kind 'V')
        found = _KIND_NAMES.get(dtype.kind, str(dtype))
        raise TypeError(f"{owner}: input must hold real numbers, got dtype {dtype} ({found})")
