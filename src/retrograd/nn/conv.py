"""Convolution and pooling: conv1d/conv2d (stride, padding, dilation, groups), max and average pooling.

A convolution is one fused primitive (``autograd/ops/conv.py``): im2col with
one strided copy and one GEMM per group forward; one GEMM for the weight, one
for the patches and a col2im backward. Under ``create_graph`` it is
differentiated as ``unfold`` + matmul, so every order of derivative works. Parameter names and shapes are PyTorch's: ``weight`` is
(out_channels, in_channels/groups, *kernel) and ``bias`` (out_channels,), so
weights copy 1:1 from torch.
"""
import math

import numpy as np

from .. import backend
from ..autograd import functions as F
from ..autograd.ops.registry import OPS
from ..autograd.tensor import Tensor, apply
from . import init
from .arguments import check_input, float_dtype, int_tuple, whole_number
from .module import Module, Parameter

_UNFOLD = OPS["unfold"]
_CONV = OPS["conv"]
_MAX_POOL = OPS["max_pool"]


# the least value of each window argument: kernels, strides and dilations of at least 1, no
# negative padding
_MINIMUM = {"kernel_size": 1, "stride": 1, "dilation": 1, "padding": 0}


def _tuple(v, d, what, owner=None):
    """``v`` as ``d`` whole numbers, at least ``_MINIMUM[what]`` each; errors name ``owner: what``."""
    return int_tuple(v, d, f"{owner}: {what}" if owner else what, _MINIMUM[what])


def unfold(x, kernel_size, stride=1, padding=0, dilation=1, pad_value=0.0):
    """Patches of x (N, C, *S) as (N, *out, C, *kernel) (im2col)."""
    d = x.ndim - 2
    k = _tuple(kernel_size, d, "kernel_size")
    s, p, dl = _tuple(stride, d, "stride"), _tuple(padding, d, "padding"), _tuple(dilation, d, "dilation")
    outs = [(x.shape[2 + i] + 2 * p[i] - dl[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(d)]
    if min(outs) < 1:
        raise ValueError(f"unfold: input of shape {tuple(x.shape)} is smaller than the kernel {k} "
                         f"(dilation {dl}, padding {p}); the output would be empty")
    return apply(_UNFOLD, x, kernel=k, stride=s, padding=p, dilation=dl, pad_value=pad_value)


def _conv(x, weight, bias, stride, padding, dilation, groups, d, name):
    check_input(x, name)
    groups = whole_number(groups, f"{name}: groups", 1)
    if x.ndim != d + 2:
        raise ValueError(f"{name}: input must be (N, C, {', '.join('LHW'[-d:] if d < 3 else 'DHW')}) "
                         f"with {d + 2} axes, got shape {tuple(x.shape)}")
    out_ch, cin_g = weight.shape[0], weight.shape[1]
    if x.shape[1] != cin_g * groups or out_ch % groups:
        raise ValueError(f"{name}: input has {x.shape[1]} channels but weight {tuple(weight.shape)} "
                         f"with groups={groups} expects {cin_g * groups} (and out_channels divisible by groups)")
    stride, padding = _tuple(stride, d, "stride"), _tuple(padding, d, "padding")
    dilation = _tuple(dilation, d, "dilation")
    outs = [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1
            for i in range(d)]
    if min(outs) < 1:
        raise ValueError(f"{name}: input of shape {tuple(x.shape)} is smaller than the kernel "
                         f"{tuple(weight.shape[2:])} (dilation {dilation}, padding {padding})")
    if bias is None:
        w = weight.data if isinstance(weight, Tensor) else weight
        bias = np.zeros_like(w, shape=(out_ch,))             # on the weight's device
    return apply(_CONV, x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                 groups=int(groups))


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation of x (N, C, L) with weight (out, C/groups, k), as torch.nn.functional.conv1d."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of x (N, C, H, W) with weight (out, C/groups, kh, kw), as torch's conv2d."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _pool(x, kernel_size, stride, padding, d, kind, name):
    check_input(x, name)
    if x.ndim != d + 2:
        raise ValueError(f"{name}: input must have {d + 2} axes (N, C, *spatial), got shape {tuple(x.shape)}")
    k = _tuple(kernel_size, d, "kernel_size")
    s = _tuple(stride if stride is not None else k, d, "stride")
    p = _tuple(padding, d, "padding")
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{name}: padding {p} must be at most half the kernel {k}")
    if kind == "max":
        return apply(_MAX_POOL, x, kernel=k, stride=s, padding=p)
    cols = unfold(x, k, s, p, 1, 0.0)                                 # (N, *O, C, *K)
    lead = cols.shape[:2 + d]
    y = F.mean(F.reshape(cols, lead + (int(np.prod(k)),)), axis=-1)
    return F.transpose(y, (0, d + 1) + tuple(range(1, d + 1)))


def max_pool1d(x, kernel_size, stride=None, padding=0):
    return _pool(x, kernel_size, stride, padding, 1, "max", "max_pool1d")


def max_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool(x, kernel_size, stride, padding, 2, "max", "max_pool2d")


def avg_pool1d(x, kernel_size, stride=None, padding=0):
    """Average over each window; padded zeros count in the mean (PyTorch's count_include_pad=True)."""
    return _pool(x, kernel_size, stride, padding, 1, "avg", "avg_pool1d")


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    return _pool(x, kernel_size, stride, padding, 2, "avg", "avg_pool2d")


class _ConvNd(Module):
    """Shared body of Conv1d/Conv2d; init is PyTorch's: U(±1/sqrt(fan_in)) for weight and bias."""
    dims = 0
    traceable = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, dtype=None, generator=None):
        super().__init__()
        d = self.dims
        name = type(self).__name__
        in_channels = whole_number(in_channels, f"{name}: in_channels", 1)
        out_channels = whole_number(out_channels, f"{name}: out_channels", 1)
        groups = whole_number(groups, f"{name}: groups", 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} "
                             f"must both be divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _tuple(kernel_size, d, "kernel_size", name)
        self.stride, self.padding = _tuple(stride, d, "stride", name), _tuple(padding, d, "padding", name)
        self.dilation = _tuple(dilation, d, "dilation", name)
        dtype = float_dtype(dtype, name)
        self.weight = Parameter(np.zeros((out_channels, in_channels // groups) + self.kernel_size, dtype=dtype))
        if bias:
            self.bias = Parameter(np.zeros(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        rng = backend.get_generator(generator)
        fan_in = (self.in_channels // self.groups) * int(np.prod(self.kernel_size))
        b = 1.0 / math.sqrt(fan_in)
        init.uniform_(self.weight, -b, b, generator=rng)
        if self.bias is not None:
            init.uniform_(self.bias, -b, b, generator=rng)

    def forward(self, x):
        return _conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                     self.dims, type(self).__name__)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}")


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L)."""
    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W)."""
    dims = 2


class _PoolNd(Module):
    dims, kind = 0, "max"
    traceable = True

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _tuple(kernel_size, self.dims, "kernel_size", name)
        self.stride = _tuple(stride, self.dims, "stride", name) if stride is not None else self.kernel_size
        self.padding = _tuple(padding, self.dims, "padding", name)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding {self.padding} must be at most half the kernel "
                             f"{self.kernel_size}")

    def forward(self, x):
        return _pool(x, self.kernel_size, self.stride, self.padding, self.dims, self.kind,
                     type(self).__name__)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_PoolNd):
    """Max over windows of (N, C, L); the first maximum gets the gradient."""
    dims, kind = 1, "max"


class MaxPool2d(_PoolNd):
    """Max over windows of (N, C, H, W); the first maximum gets the gradient."""
    dims, kind = 2, "max"


class AvgPool1d(_PoolNd):
    dims, kind = 1, "avg"


class AvgPool2d(_PoolNd):
    dims, kind = 2, "avg"
