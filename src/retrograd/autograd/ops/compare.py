"""Comparison and other non-differentiable primitives (their outputs carry no gradient)."""
import numpy as np

from ... import backend
from .registry import primitive


@primitive
def equal(x, y):
    return np.equal(x, y)


@primitive
def not_equal(x, y):
    return np.not_equal(x, y)


@primitive
def less(x, y):
    return np.less(x, y)


@primitive
def less_equal(x, y):
    return np.less_equal(x, y)


@primitive
def greater(x, y):
    return np.greater(x, y)


@primitive
def greater_equal(x, y):
    return np.greater_equal(x, y)


@primitive
def one_hot(labels, num_classes, dtype):
    if backend.is_device_array(labels):       # CuPy: a comparison with the class numbers, on the GPU
        classes = backend.array_module(labels).arange(num_classes)
        return (labels[..., None] == classes).astype(dtype)
    labels = np.asarray(labels)
    out = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out
