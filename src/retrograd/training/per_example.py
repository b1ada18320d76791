"""``rg.per_example_grads``: the gradient of every example's own loss, for each parameter, in one call.

The vectorised path seeds one backward sweep with each example's loss
cotangent (``autograd/per_example.py``); a graph it cannot split, or whose
examples turn out to interact, is handled by the definition itself: one
backward pass per example.
"""
import warnings
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..autograd import functions as F
from ..autograd.engine import compute_grads
from ..autograd.per_example import CannotSplit, per_example_sweep
from ..autograd.tensor import GradMode, Tensor

LossLike = Union[str, Callable[..., Tensor]]


class PerExampleFallbackWarning(UserWarning):
    """The vectorised per-example sweep could not be used; the gradients come from one backward per example."""


def per_example_grads(model: Any, loss: LossLike, X: Any, y: Any, *, method: str = "auto",
                      check: bool = True, params: Optional[Sequence[Tensor]] = None,
                      out: Optional[Sequence[np.ndarray]] = None,
                      return_losses: bool = False) -> Union[List[np.ndarray], Tuple[List[np.ndarray], np.ndarray]]:
    """Gradients of each example's loss, ``[array (n,) + p.shape for p in model.parameters()]``.

    Example ``e``'s gradient is that of ``loss(model(X[e:e+1]), y[e:e+1])``, the
    loss of that example alone (for a mean loss, the batch gradient is the mean of
    these). ``loss``: a name (``"mse"``, ``"cross_entropy"``, ...), a loss module or
    any callable ``loss(output, target) -> scalar Tensor``, as in ``rg.fit``.

    ``method``: ``"auto"`` (vectorised, falling back to the loop when the graph
    holds an op without a per-example rule or the examples interact),
    ``"vectorized"`` (raise instead of falling back) or ``"loop"`` (one backward
    per example). ``check``: confirm the vectorised result on three examples with
    one ordinary backward pass (catches examples that interact, such as batch
    norm in training mode). ``params``: the tensors to differentiate (default
    ``model.parameters()``). ``out``: buffers of the result shapes to reuse.
    ``return_losses``: also return the per-example losses (n,).
    """
    if method not in ("auto", "vectorized", "loop"):
        raise ValueError(f"per_example_grads: method must be 'auto', 'vectorized' or 'loop', got {method!r}")
    params = list(model.parameters()) if params is None else list(params)
    if not params:
        raise ValueError("per_example_grads: the model has no parameters")
    dtype = params[0].data.dtype
    X, y = _as_batch(X, dtype, "X"), _as_batch(y, dtype, "y")
    if len(X) != len(y):
        raise ValueError(f"per_example_grads: X has {len(X)} examples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("per_example_grads: X holds no examples")
    if out is not None and [np.shape(b) for b in out] != [(len(X),) + p.shape for p in params]:
        raise ValueError("per_example_grads: out must hold one array of shape (n,) + p.shape per parameter")
    grads, losses = _per_example_grads_and_losses(model, loss, X, y, params, out, method, check)
    return (grads, losses) if return_losses else grads


def _per_example_grads_and_losses(model: Any, loss: LossLike, X: np.ndarray, y: np.ndarray,
                                  params: List[Tensor], out: Optional[Sequence[np.ndarray]],
                                  method: str = "auto", check: bool = True) -> Tuple[List[np.ndarray], np.ndarray]:
    loss_fn, per_example_loss = _loss_functions(loss)
    if method != "loop":
        try:
            return _vectorized(model, params, loss_fn, per_example_loss, X, y, check, out)
        except CannotSplit as why:
            if method == "vectorized":
                raise ValueError(f"per_example_grads: the vectorised sweep cannot handle this model ({why}); "
                                 "use method='loop' or 'auto'") from None
            warnings.warn(f"per_example_grads: {why}; computing one backward pass per example instead",
                          PerExampleFallbackWarning, stacklevel=3)
    return _loop(model, params, loss_fn, X, y, out)


def _as_batch(a: Any, dtype: np.dtype, name: str) -> np.ndarray:
    arr = np.asarray(a.data if isinstance(a, Tensor) else a)
    if arr.ndim == 0:
        raise ValueError(f"per_example_grads: {name} must have a leading example axis, got a scalar")
    if arr.dtype.kind == "f" and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


# ----------------------------------------------------------------------------- losses


def _loss_functions(loss: LossLike) -> Tuple[Callable[..., Tensor], Optional[Callable[..., Tensor]]]:
    """(loss_fn, per_example) where per_example(out, y) gives the (n,) losses in one call, or None."""
    from .. import nn
    fn = nn.get_loss(loss) if isinstance(loss, str) else loss
    if not callable(fn):
        raise TypeError(f"per_example_grads: loss must be a name, a loss module or a callable, "
                        f"got {type(loss).__name__}")
    reduction = getattr(fn, "reduction", None)
    options = getattr(fn, "options", None)
    name = getattr(fn, "name", None)
    if name is None or options is None or reduction not in ("mean", "sum", "batchmean"):
        return fn, None
    if reduction == "mean" and options.get("weight") is not None:
        return fn, None               # a weighted mean over one example is not the unweighted per-element mean
    unreduced = nn.get_loss(name, reduction="none", **options)
    per_element_mean = reduction == "mean"

    def per_example(out: Tensor, target: Tensor) -> Tensor:
        values = unreduced(out, target)
        if values.ndim == 1:
            return values
        axes = tuple(range(1, values.ndim))
        return F.mean(values, axis=axes) if per_element_mean else F.sum(values, axis=axes)
    return fn, per_example


def _output_seed(out: Tensor, loss_fn: Callable[..., Tensor], per_example: Optional[Callable[..., Tensor]],
                 y: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(d Σ_e l_e / d out, the losses l_e): every example's loss cotangent at the model's output."""
    n = out.shape[0]
    leaf = Tensor._wrap(out.data, requires_grad=True)
    saved = GradMode.enabled
    GradMode.enabled = True
    try:
        if per_example is not None:
            losses = per_example(leaf, Tensor._wrap(y))
            if losses.shape != (n,):
                raise CannotSplit(f"the loss gave per-example values of shape {losses.shape}")
            (seed,) = compute_grads([F.sum(losses)], [None], inputs=[leaf], accumulate=False)
            return seed.data, losses.data.astype(np.float64)
        # a plain callable: its value on each example alone (cheap beside the model's backward)
        seed = np.zeros_like(out.data)
        values = np.empty(n)
        for e in range(n):
            part = Tensor._wrap(out.data[e:e + 1], requires_grad=True)
            value = loss_fn(part, Tensor._wrap(y[e:e + 1]))
            (g,) = compute_grads([value], [None], inputs=[part], accumulate=False)
            if g is not None:
                seed[e] = g.data[0]
            values[e] = float(value.data)
        return seed, values
    finally:
        GradMode.enabled = saved


# ----------------------------------------------------------------------------- the two ways


def _vectorized(model, params, loss_fn, per_example, X, y, check, out):
    n = len(X)
    saved = GradMode.enabled
    GradMode.enabled = True
    # the examples enter as a leaf that requires grad, so the graph shows where they enter
    # (the sweep never computes their gradient)
    x = Tensor._wrap(X, requires_grad=X.dtype.kind == "f")
    try:
        output = model(x)
    finally:
        GradMode.enabled = saved
    if not isinstance(output, Tensor) or output.ndim == 0 or output.shape[0] != n:
        raise CannotSplit("the model's output has no example axis first")
    if not output.requires_grad:
        raise ValueError("per_example_grads: the model's output does not depend on its parameters")
    seed, losses = _output_seed(output, loss_fn, per_example, y)
    grads = per_example_sweep(output, seed, params, [x], n, out)
    x.requires_grad = False           # the check's backward has no use for d loss / d X (a whole GEMM)
    if check and n > 1:
        _check_against_backward(output, seed, params, grads)
    return grads, losses


# Only the parameters up to this size are compared in the check: a parameter-consuming op's small
# inputs (biases, norm scales) see the same cotangent rows as its big weight, so they reveal rows
# that mix just as well, and the backward pass then skips the big weight-gradient GEMMs (on the
# 784-256-10 MLP, the check went from 24% of the call to about 2%).
CHECKED_SIZE = 1 << 16


def _check_against_backward(output, seed, params, grads):
    """Σ_e u_e g_e over three examples must equal one backward pass seeded with u_e there (zero elsewhere)."""
    n = seed.shape[0]
    picks = np.unique([0, n // 2, n - 1])
    u = np.random.default_rng(0).uniform(0.5, 1.5, len(picks))
    probe = np.zeros_like(seed)
    probe[picks] = seed[picks] * u.reshape((-1,) + (1,) * (seed.ndim - 1)).astype(seed.dtype)
    small = [i for i, p in enumerate(params) if p.data.size <= CHECKED_SIZE]
    if not small:
        small = [int(np.argmin([p.data.size for p in params]))]
    skipped = [p for i, p in enumerate(params) if i not in small]
    for p in skipped:                 # no gradient wanted: the engine skips their VJP branches
        p.requires_grad = False
    try:
        ref = compute_grads([output], [probe], inputs=[params[i] for i in small], retain_graph=True,
                            accumulate=False)
    finally:
        for p in skipped:
            p.requires_grad = True
    tol = 1e-3 if seed.dtype == np.float32 else 1e-9
    for i, r in zip(small, ref):
        g = grads[i][picks].astype(np.float64)
        want = np.zeros(params[i].shape) if r is None else r.data.astype(np.float64)
        got = np.tensordot(u, g, axes=1)
        scale = np.abs(g).max() + np.abs(want).max() + 1e-30
        if np.abs(got - want).max() > tol * scale:
            raise CannotSplit("the examples interact (batch norm in training mode? a loss or layer that "
                              "mixes the batch?), so a single sweep cannot separate them")


def _loop(model, params, loss_fn, X, y, out):
    n = len(X)
    grads = [np.empty((n,) + p.shape, dtype=p.data.dtype) if out is None else out[i]
             for i, p in enumerate(params)]
    losses = np.empty(n)
    saved = GradMode.enabled
    GradMode.enabled = True
    try:
        for e in range(n):
            value = loss_fn(model(Tensor._wrap(X[e:e + 1])), Tensor._wrap(y[e:e + 1]))
            parts = compute_grads([value], [None], inputs=params, accumulate=False)
            for buf, g in zip(grads, parts):
                buf[e] = 0 if g is None else g.data
            losses[e] = float(value.data)
    finally:
        GradMode.enabled = saved
    return grads, losses


def batch_per_example_grads(trainer: Any, params: Sequence[Tensor]) -> Tuple[float, List[np.ndarray]]:
    """The ``rg.fit`` closure of ``closure_kind = "per_example"`` optimizers: (mean loss, per-example grads).

    Uses the trainer's current batch; the result arrays are reused from step to step
    (one set per batch size), and the vectorised sweep is checked on the first batch only.
    """
    cache = trainer.__dict__.setdefault("_per_example_cache", {"checked": False})
    X, y = trainer._xb.data, trainer._yb.data
    params = list(params)
    key = (len(X),) + tuple(id(p) for p in params)
    out = cache.get(key)
    if out is None:
        out = cache[key] = [np.empty((len(X),) + p.shape, dtype=p.data.dtype) for p in params]
    grads, losses = _per_example_grads_and_losses(trainer.model, trainer.loss_fn, X, y, params, out,
                                                  check=not cache["checked"])
    cache["checked"] = True
    trainer._last_loss = float(np.mean(losses))
    return trainer._last_loss, grads
