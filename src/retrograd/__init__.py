"""retrograd: train neural networks by backpropagation.

An autodiff engine on NumPy (CuPy on GPU) arrays, layers, losses, and the
whole family of backprop training algorithms.
"""
from .version import __version__  # noqa: F401

from .autograd import (GradcheckError, GraphFreedError, OpError, Tensor, autocast, checkpoint,
                       enable_grad, get_autocast_dtype, grad, gradcheck, hessian, hvp,
                       is_autocast_enabled, is_grad_enabled, jacobian, jvp, no_grad, value_and_grad,
                       vjp)
from .autograd.engine import compute_grads
from .autograd.factories import (arange, as_tensor, eye, full, linspace, ones, ones_like, rand,
                                 randint, randn, tensor, zeros, zeros_like)
from .autograd.functions import (abs, add, argmax, argmin, astype, broadcast_to, cat, clip,
                                 concatenate, cos, div, elu, equal, erf, exp, flatten, flip,
                                 gather, gelu, getitem, greater, greater_equal, leaky_relu, less,
                                 less_equal, log, log1p, log_softmax, logsumexp, matmul, max,
                                 maximum, mean, min, minimum, mul, neg, not_equal, one_hot, pad,
                                 permute, pow, prod, relu, reshape, sigmoid, sign, sin, softmax,
                                 softplus, split, sqrt, squeeze, stack, std, sub, sum, sum_to,
                                 swapaxes, take_along_axis, tanh, transpose, unsqueeze, var, where)
from .backend import (DeviceError, default_generator, get_default_dtype, gpu_available,
                      manual_seed, set_default_dtype)


def autograd_grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (like torch.autograd.grad), without touching .grad."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    grads = compute_grads(outputs, grad_outputs, inputs=inputs, retain_graph=retain_graph,
                          create_graph=create_graph, accumulate=False)
    return grads[0] if single else tuple(grads)


from . import data, io, nn, optim, training  # noqa: E402 - subpackages, after the core names
from .training.per_example import per_example_grads  # noqa: E402
from . import accel  # noqa: E402 - last: the speed wing plugs its faster versions into the packages above

datasets = data


def __getattr__(name):
    """Names provided by subpackages that import optional parts lazily (rg.save, rg.load, rg.fit)."""
    if name in ("save", "load"):
        return getattr(io, name)
    if name in ("fit", "Trainer", "History", "GradScaler"):
        from . import training as _training
        return getattr(_training, name)
    if name == "onnx":  # onnx is optional: rg.onnx imports it only when export/load are called
        import importlib
        return importlib.import_module(".io.onnx", __name__)
    if name == "plot":  # matplotlib is optional: imported only when plots are asked for
        import importlib
        return importlib.import_module(".plot", __name__)
    raise AttributeError(f"module 'retrograd' has no attribute {name!r}")
