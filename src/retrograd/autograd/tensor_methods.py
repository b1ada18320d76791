"""Operator overloads and methods of Tensor that run primitives or the engine, bound here (above them) so tensor.py imports neither."""
import numpy as np

from . import functions as F
from .engine import compute_grads
from .ops.registry import OPS
from .tensor import Tensor, apply


def _binary(op, reflected=False):
    if reflected:
        def method(self, other):
            return apply(op, other, self)
    else:
        def method(self, other):
            return apply(op, self, other)
    return method


def _unary_method(op):
    def method(self):
        return apply(op, self)
    return method


def backward(self, gradient=None, retain_graph=None, create_graph=False):
    """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

    ``gradient`` is the cotangent (required unless self has one element).
    The graph is freed afterwards unless ``retain_graph``; with
    ``create_graph`` the backward pass is itself recorded, so the gradients
    can be differentiated again.
    """
    compute_grads([self], [gradient], retain_graph=retain_graph, create_graph=create_graph)


def to(self, target):
    """Cast to a dtype (``t.to(np.float64)``) or move to a device ('cpu' / 'cuda'), keeping the graph."""
    if isinstance(target, str) and target in ("cpu", "cuda", "gpu") or str(target).startswith("cuda"):
        return F.to_device(self, device=target)
    return F.astype(self, dtype=np.dtype(target))


def _bind():
    T = Tensor
    for name, opname in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"),
                         ("pow", "pow")]:
        setattr(T, f"__{name}__", _binary(OPS[opname]))
        setattr(T, f"__r{name}__", _binary(OPS[opname], reflected=True))
    T.__matmul__ = lambda self, other: F.matmul(self, other)
    T.__rmatmul__ = lambda self, other: F.matmul(other, self)
    T.__neg__ = _unary_method(OPS["neg"])
    T.__pos__ = lambda self: self
    T.__abs__ = _unary_method(OPS["abs"])
    for name, opname in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                         ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
        setattr(T, f"__{name}__", _binary(OPS[opname]))
    T.__getitem__ = F.getitem

    for name in ["exp", "log", "log1p", "sqrt", "sin", "cos", "tanh", "sigmoid", "softplus",
                 "relu", "abs", "sign", "sum", "mean", "prod", "max", "min", "logsumexp", "var",
                 "std", "argmax", "argmin", "softmax", "log_softmax", "reshape", "transpose",
                 "permute", "swapaxes", "squeeze", "unsqueeze", "flatten", "flip", "matmul",
                 "broadcast_to", "clip", "astype", "leaky_relu", "elu", "gelu", "erf", "pow"]:
        setattr(T, name, getattr(F, name))
    T.view = F.reshape
    T.clamp = F.clip
    T.expand = F.broadcast_to
    T.any = lambda self, axis=None: Tensor._wrap(self.data.any(axis=axis))
    T.all = lambda self, axis=None: Tensor._wrap(self.data.all(axis=axis))
    T.T = property(F.transpose, doc="The transpose (axes reversed), recorded.")
    T.to = to
    T.double = lambda self: to(self, np.float64)
    T.float = lambda self: to(self, np.float32)
    T.cpu = lambda self: to(self, "cpu")
    T.cuda = lambda self: to(self, "cuda")
    T.backward = backward


_bind()
