"""Small helpers shared by the ONNX op implementations: telling tensors from constants, reading int inputs."""
import math
from typing import Any, Optional

import numpy as np

from ...autograd.tensor import Tensor
from .errors import OnnxLoadError

# ConstantOfShape, Expand, Range and Tile make tensors whose size comes from values, not from stored
# bytes; 2**28 elements (1 GiB of float32) is far beyond any network retrograd trains on one machine.
MAX_CREATED_ELEMENTS = 1 << 28


def is_tensor(a: Any) -> bool:
    """True for values that take part in the differentiable graph."""
    return isinstance(a, Tensor)


def data(a: Any) -> np.ndarray:
    """The array inside a Tensor, or the constant itself as an array."""
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def ints(a: Any) -> list:
    """An int input (shape, axes, pads) as a list of Python ints."""
    return [int(v) for v in data(a).reshape(-1)]


def scalar(a: Any) -> Optional[float]:
    """A scalar input as a Python number, or None when the optional input is absent."""
    if a is None:
        return None
    v = data(a).reshape(-1)
    if v.size != 1:
        raise OnnxLoadError(f"expected a scalar, got shape {data(a).shape}")
    return v[0].item()


def bounded(shape: Any, what: str) -> tuple:
    """``shape`` as a tuple, refused when it would hold more than MAX_CREATED_ELEMENTS elements."""
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise OnnxLoadError(f"{what}: negative size in shape {shape}")
    if math.prod(shape) > MAX_CREATED_ELEMENTS:
        raise OnnxLoadError(f"{what}: shape {shape} would create {math.prod(shape)} elements, more than the "
                            f"limit of {MAX_CREATED_ELEMENTS} (retrograd.io.onnx.import_util.MAX_CREATED_ELEMENTS)")
    return shape


def axis(a: int, ndim: int, what: str) -> int:
    """A possibly negative axis as a non-negative one, checked against ``ndim``."""
    if not -ndim <= a < max(ndim, 1):
        raise OnnxLoadError(f"{what}: axis {a} is out of range for a tensor with {ndim} axes")
    return a % max(ndim, 1)


def unsupported(what: str) -> OnnxLoadError:
    """The error for a feature of an op that retrograd does not implement."""
    return OnnxLoadError(f"{what} is not supported by retrograd's ONNX import")
