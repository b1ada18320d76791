"""Basic layers: Linear, Flatten, Dropout, Embedding."""
import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import functions as F
from ..autograd.ops import OPS
from ..autograd.tensor import Tensor
from . import init
from .arguments import check_input, float_dtype, real_number, whole_number
from .module import Module, Parameter

LINEAR = OPS["linear"]


class Linear(Module):
    """Dense layer ``y = x @ W + b``.

    Weight layout: ``weight`` has shape ``(in_features, out_features)`` — the
    transpose of PyTorch's ``nn.Linear.weight`` (copy ``torch_w.T``). Default
    init: Glorot uniform drawn as ``rng.uniform(-a, a, size=(in, out))`` in
    float64 then cast, biases zero; ``init=`` names another initialiser
    (e.g. ``"fan_in_uniform"``, PyTorch's default, which also draws the bias).
    """
    traceable = True
    # parameters PyTorch stores transposed, with its layout (read by nn/torch_layout.py)
    torch_transposed = {"weight": "(out_features, in_features)"}

    def __init__(self, in_features, out_features, bias=True, dtype=None, generator=None,
                 init="xavier_uniform"):
        super().__init__()
        self.in_features = whole_number(in_features, "Linear: in_features", 1)
        self.out_features = whole_number(out_features, "Linear: out_features", 1)
        dtype = float_dtype(dtype, "Linear")
        self.weight = Parameter(np.zeros((self.in_features, self.out_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.zeros(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.init_name = init
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        name = self.init_name
        if name in ("fan_in_uniform", "torch"):
            _torch_like(self.weight, self.bias, self.in_features, generator)
        elif name == "nguyen_widrow":
            init.nguyen_widrow_(self.weight, self.bias, generator=generator)
        else:
            init.get(name)(self.weight, generator=generator)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        check_input(x, f"Linear({self.in_features}, {self.out_features})")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input has shape "
                             f"{tuple(x.shape)}, its last axis must be {self.in_features}")
        return LINEAR(x, self.weight, self.bias)  # one fused primitive: x @ W + b

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


def _torch_like(weight, bias, fan_in, generator):
    rng = backend.get_generator(generator)
    b = 1.0 / math.sqrt(fan_in)
    init.uniform_(weight, -b, b, generator=rng)
    if bias is not None:
        init.uniform_(bias, -b, b, generator=rng)


class Flatten(Module):
    """Flatten axes ``start_axis``..``end_axis`` (default: all but the batch axis), in C order."""
    traceable = True

    def __init__(self, start_axis=1, end_axis=-1):
        super().__init__()
        self.start_axis = whole_number(start_axis, "Flatten: start_axis", None)
        self.end_axis = whole_number(end_axis, "Flatten: end_axis", None)

    def forward(self, x):
        return F.flatten(x, self.start_axis, self.end_axis)

    def extra_repr(self):
        return f"start_axis={self.start_axis}, end_axis={self.end_axis}"


class Dropout(Module):
    """Zero each element with probability ``p`` in training, scaling the rest by 1/(1−p); identity in eval."""

    @property
    def traceable(self):          # random masks cannot be replayed
        return not self.training or self.p == 0.0

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        self.p = real_number(p, "Dropout: p")
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"Dropout: p must lie in [0, 1), got {p}")
        self.generator = generator
        self._device_rng = None       # the CuPy generator of a model on the GPU (backend.device_generator)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        data = x.data if isinstance(x, Tensor) else x
        if backend.is_device_array(data):     # a GPU generator, made once from this layer's generator
            if self._device_rng is None:
                self._device_rng = backend.device_generator(self.generator)
            return x * dropout_scale(data, self.p, self._device_rng)
        return x * dropout_scale(data, self.p, backend.get_generator(self.generator))

    def extra_repr(self):
        return f"p={self.p}"


def dropout_scale(like: Any, p: float, rng: Any = None) -> Any:
    """The dropout multiplier for an array shaped like ``like``: 1/(1-p) where kept, 0 where dropped.

    Drawn from ``rng`` (a NumPy generator for host arrays; for a CuPy array a
    CuPy generator, by default ``backend.device_generator()``, seeded from
    retrograd's seed), on ``like``'s device and in its dtype.
    """
    if rng is None:
        rng = backend.device_generator() if backend.is_device_array(like) else backend.get_generator(None)
    keep = rng.random(like.shape) >= p
    return keep.astype(like.dtype) * (1.0 / (1.0 - p))


class Embedding(Module):
    """A lookup table: integer indices (any shape) -> rows of ``weight`` (num_embeddings, dim), init N(0, 1)."""
    # not traceable: the batch's indices reach the graph as a static index, which a replay cannot follow

    def __init__(self, num_embeddings, embedding_dim, dtype=None, generator=None):
        super().__init__()
        self.num_embeddings = whole_number(num_embeddings, "Embedding: num_embeddings", 1)
        self.embedding_dim = whole_number(embedding_dim, "Embedding: embedding_dim", 1)
        dtype = float_dtype(dtype, "Embedding")
        self.weight = Parameter(np.zeros((self.num_embeddings, self.embedding_dim), dtype=dtype))
        init.normal_(self.weight, generator=generator)

    def forward(self, idx):
        idx = idx.data if isinstance(idx, Tensor) else idx
        if not backend.is_device_array(idx):
            idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got {idx.dtype}")
        if idx.size:        # one reduction each (on the GPU: one host read of the two bounds)
            low, high = int(idx.min()), int(idx.max())
            if low < 0 or high >= self.num_embeddings:
                raise IndexError(f"Embedding({self.num_embeddings}, {self.embedding_dim}): indices must "
                                 f"lie in [0, {self.num_embeddings}), got [{low}, {high}]")
        return F.getitem(self.weight, idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
