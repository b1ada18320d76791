"""Normalisation layers: BatchNorm1d/2d (batch statistics, running averages) and LayerNorm."""
import numpy as np

from ..autograd import functions as F
from ..autograd.tensor import Tensor
from .arguments import check_input, float_dtype, real_number, whole_number
from .module import Module, Parameter


class _BatchNorm(Module):
    """Normalise each channel over the batch (and spatial axes), as PyTorch's BatchNorm.

    Training mode uses the batch mean and biased variance and updates
    ``running_mean`` / ``running_var`` (unbiased) with ``momentum``; eval mode
    uses the running values. Names and defaults are PyTorch's, so state dicts
    copy over, including ``num_batches_tracked``.
    """
    spatial = 0

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=None):
        super().__init__()
        name = type(self).__name__
        dtype = float_dtype(dtype, name)
        num_features = whole_number(num_features, f"{name}: num_features", 1)
        eps = real_number(eps, f"{name}: eps", above=0.0)
        if momentum is not None:
            momentum = real_number(momentum, f"{name}: momentum (None for a cumulative average)", 0.0)
            if momentum > 1.0:
                raise ValueError(f"{name}: momentum must lie in [0, 1] (or be None), got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtype=np.int64)))

    def _check(self, x):
        name = type(self).__name__
        check_input(x, name)
        ok = x.ndim in ((2, 3) if self.spatial == 0 else (4,))
        if not ok or x.shape[1] != self.num_features:
            want = "(N, C) or (N, C, L)" if self.spatial == 0 else "(N, C, H, W)"
            raise ValueError(f"{name}({self.num_features}): input must be {want} with C = "
                             f"{self.num_features}, got shape {tuple(x.shape)}")

    def forward(self, x):
        self._check(x)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training or not self.track_running_stats:
            mean = F.mean(x, axis=axes, keepdims=True)
            centred = x - mean
            var = F.mean(centred * centred, axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                self._update_running(mean.data, var.data, x.size // self.num_features)
            y = centred / F.sqrt(var + self.eps)
        else:
            rm = self.running_mean.data.reshape(shape)
            rv = self.running_var.data.reshape(shape)
            y = (x - rm) * (1.0 / np.sqrt(rv + self.eps))         # ufuncs: NumPy or CuPy alike
        if self.affine:
            y = y * F.reshape(self.weight, shape) + F.reshape(self.bias, shape)
        return y

    def _update_running(self, mean, var, n):
        self.num_batches_tracked.data[...] += 1     # in place, as torch: `data + 1` gave a NumPy scalar
        mom = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked.data)
        unbiased = var.reshape(-1) * (n / max(n - 1, 1))
        rm, rv = self.running_mean.data, self.running_var.data
        rm[...] = (1 - mom) * rm + mom * mean.reshape(-1)
        rv[...] = (1 - mom) * rv + mom * unbiased

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L)."""
    spatial = 0


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), per channel."""
    spatial = 2


class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` axes of each sample, then scale and shift."""
    traceable = True

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=None):
        super().__init__()
        if not isinstance(normalized_shape, (tuple, list)):
            normalized_shape = (normalized_shape,)
        if not normalized_shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one axis size, got ()")
        self.normalized_shape = tuple(whole_number(s, "LayerNorm: normalized_shape", 1)
                                      for s in normalized_shape)
        self.eps = real_number(eps, "LayerNorm: eps", above=0.0)
        dtype = float_dtype(dtype, "LayerNorm")
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        check_input(x, f"LayerNorm{self.normalized_shape}")
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm{self.normalized_shape}: input of shape {tuple(x.shape)} does "
                             f"not end with {self.normalized_shape}")
        axes = tuple(range(x.ndim - k, x.ndim))
        centred = x - F.mean(x, axis=axes, keepdims=True)
        var = F.mean(centred * centred, axis=axes, keepdims=True)
        y = centred / F.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight + self.bias
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"
