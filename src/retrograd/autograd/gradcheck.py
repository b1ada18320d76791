"""Gradient checking: analytic derivatives against float64 central finite differences, to any order."""
import numpy as np

from . import functions as F
from .engine import compute_grads
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical derivatives disagree; the message names the worst element."""


def _float64_leaves(inputs):
    leaves = []
    for x in inputs:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.dtype.kind != "f":
            raise TypeError(f"gradcheck: inputs must be floating point, got {data.dtype}")
        leaves.append(Tensor._wrap(np.array(data, dtype=np.float64), requires_grad=True))
    return leaves


def _analytic(f, inputs, cotangent, create_graph):
    out = f(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        return out, [Tensor._wrap(np.zeros_like(x.data)) for x in inputs]
    grads = compute_grads([out], [cotangent], inputs=inputs, create_graph=create_graph,
                          accumulate=False)
    return out, [g if g is not None else Tensor._wrap(np.zeros_like(x.data)) for g, x in zip(grads, inputs)]


def _numeric(f, inputs, cotangent, eps):
    """d<f(x), c>/dx by central differences, one element at a time."""
    grads = []
    for x in inputs:
        g = np.zeros_like(x.data)
        flat, gflat = x.data.reshape(-1), g.reshape(-1)
        for k in range(flat.size):
            keep = flat[k]
            flat[k] = keep + eps
            up = float(np.sum(np.asarray(f(*inputs).data, dtype=np.float64) * cotangent))
            flat[k] = keep - eps
            down = float(np.sum(np.asarray(f(*inputs).data, dtype=np.float64) * cotangent))
            flat[k] = keep
            gflat[k] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def _check_first_order(f, inputs, eps, atol, rtol, seed, label):
    rng = np.random.default_rng(seed)
    out = f(*inputs)
    cotangent = rng.standard_normal(np.shape(out.data))
    _, analytic = _analytic(f, inputs, cotangent, create_graph=False)
    numeric = _numeric(f, inputs, cotangent, eps)
    worst = None
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        a = np.asarray(a.data, dtype=np.float64)
        if a.shape != n.shape:
            raise GradcheckError(f"{label}: analytic gradient of input {i} has shape {a.shape}, "
                                 f"expected {n.shape}")
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and (worst is None or excess.max() > worst[0]):
            k = int(np.argmax(excess))
            worst = (excess.reshape(-1)[k], i, np.unravel_index(k, a.shape), a.reshape(-1)[k], n.reshape(-1)[k])
    if worst is not None and (worst[0] > 0 or not np.isfinite(worst[0])):
        _, i, idx, a, n = worst
        raise GradcheckError(
            f"{label}: gradient mismatch for input {i} at index {tuple(int(j) for j in idx)}: "
            f"analytic {a:.12g}, numerical {n:.12g} (|diff| {abs(a - n):.3g} > atol {atol:g} + "
            f"rtol {rtol:g} * |numerical|)")


def gradcheck(f, inputs, order=1, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0):
    """Check ``f``'s derivatives at ``inputs`` against central finite differences in float64.

    order=1 compares the vector-Jacobian product with a random cotangent
    against differences of f; order=2 also checks the derivative of that VJP
    (its Jacobian, again projected on a random cotangent) against differences
    of the analytic VJP; higher orders recurse. Returns True, or raises
    GradcheckError naming the input, the element, and both values.
    """
    if order < 1:
        raise ValueError("gradcheck: order must be 1 or more")
    inputs = _float64_leaves(inputs if isinstance(inputs, (tuple, list)) else [inputs])
    _check_first_order(f, inputs, eps, atol, rtol, seed, "gradcheck (first order)")
    if order >= 2:
        rng = np.random.default_rng(seed + 1)
        cotangent = rng.standard_normal(np.shape(f(*inputs).data))

        def first_derivative(*xs):
            _, grads = _analytic(f, list(xs), cotangent, create_graph=True)
            return F.concatenate([F.reshape(g, (-1,)) for g in grads])
        gradcheck(first_derivative, inputs, order=order - 1, eps=eps, atol=atol * 10, rtol=rtol * 10,
                  seed=seed + 2)
    return True
