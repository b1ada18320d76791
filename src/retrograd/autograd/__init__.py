"""Reverse-mode automatic differentiation: Tensor, primitives, the backward engine and function transforms."""
from . import ops  # noqa: F401 - registers the primitives
from . import tensor_methods  # noqa: F401 - binds operators to Tensor
from .amp import autocast, get_autocast_dtype, is_autocast_enabled
from .grad_checkpoint import checkpoint
from .engine import GraphFreedError, compute_grads
from .functional import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .gradcheck import GradcheckError, gradcheck
from .tensor import OpError, Tensor, apply, enable_grad, is_grad_enabled, no_grad

__all__ = ["Tensor", "apply", "no_grad", "enable_grad", "is_grad_enabled", "compute_grads",
           "grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian", "gradcheck",
           "GradcheckError", "GraphFreedError", "OpError", "autocast", "is_autocast_enabled", "checkpoint",
           "get_autocast_dtype"]
