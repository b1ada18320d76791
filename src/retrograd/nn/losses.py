"""Loss functions (functional form) with reduction='mean'|'sum'|'none' and optional per-sample weights.

Conventions, as PyTorch unless stated: ``'none'`` returns the unreduced
loss, ``'mean'`` its mean, ``'sum'`` its sum. ``sample_weight`` (shape (N,),
one weight per sample along the first axis) multiplies each sample's loss;
with ``'mean'`` the result is then the weighted mean, sum(w*l)/sum(w).
Class weights in cross-entropy / NLL follow PyTorch (the mean divides by the
summed weights of the targets). Everything is written with stable primitives
(log_softmax, softplus), so logits of ±1e4 give finite losses and gradients.
"""
import numpy as np

from .. import backend
from ..autograd import functions as F
from ..autograd.ops import OPS
from ..autograd.tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _arr(x, like=None):
    """The array of a Tensor, a NumPy or CuPy array, or anything np.asarray takes.

    With ``like`` (the prediction) on the GPU, a host array (targets, weights)
    is copied there: passing them on the GPU saves that copy at every call.
    """
    x = x.data if isinstance(x, Tensor) else x
    if not backend.is_device_array(x):
        x = np.asarray(x)
        if like is not None and backend.is_device_array(like.data if isinstance(like, Tensor) else like):
            x = backend.to_device(x, "cuda")
    return x


def _check_reduction(reduction, name, extra=()):
    if reduction not in REDUCTIONS + tuple(extra):
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS + tuple(extra)}, got {reduction!r}")


def _check_same_shape(y, t, name):
    ys, ts = tuple(np.shape(_arr(y))), tuple(np.shape(_arr(t)))
    if ys != ts:
        raise ValueError(f"{name}: prediction has shape {ys} but target has shape {ts}; they must match "
                         f"(reshape the target, e.g. t.reshape(-1, 1) for one output unit)")


def _sample_weights(sample_weight, loss, name):
    """The per-sample weights as an array broadcastable against ``loss`` (weights along axis 0)."""
    w = _arr(sample_weight, loss).astype(_arr(loss).dtype, copy=False)
    n = np.shape(_arr(loss))[0] if np.ndim(_arr(loss)) else 1
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name}: sample_weight must have shape ({n},), one weight per sample, "
                         f"got {w.shape}")
    return w.reshape((n,) + (1,) * (np.ndim(_arr(loss)) - 1))


def _reduce(loss, reduction, sample_weight, name, denom=None):
    """Apply sample weights and the reduction. ``denom`` (array) replaces the count for 'mean'."""
    if sample_weight is not None:
        w = _sample_weights(sample_weight, loss, name)
        loss = loss * w
        wfull = np.broadcast_to(w, np.shape(_arr(loss)))
        denom = wfull if denom is None else denom * wfull
    if reduction == "none":
        return loss
    if reduction == "sum":
        return F.sum(loss)
    if denom is None:
        return F.mean(loss)
    total = np.sum(denom)
    if backend.is_device_array(total):      # stays on the GPU (a host read would stall its queue)
        return F.sum(loss) * (1.0 / total).astype(_arr(loss).dtype)
    return F.sum(loss) * (1.0 / float(total))


# --------------------------------------------------------------------- regression


def half_sse(y, t, reduction="sum", sample_weight=None):
    """The classic E = ½ Σ (y − t)² of backprop papers.

    The unit is the sample: ``'none'`` gives ½ Σ_j (y−t)² per sample (shape
    (N,) for (N, k) outputs), ``'sum'`` (the default) adds them — the classic
    total error — and ``'mean'`` averages them over the samples.
    """
    _check_reduction(reduction, "half_sse")
    _check_same_shape(y, t, "half_sse")
    d = y - t
    sq = d * d
    per = F.sum(sq, axis=tuple(range(1, sq.ndim))) * 0.5 if sq.ndim > 1 else sq * 0.5
    return _reduce(per, reduction, sample_weight, "half_sse")


# Fahlman's clip: beyond |y − t| = 0.9999999 the error term is held at ±17 (log(2e7) = 16.8 there)
ATANH_CLIP = 0.9999999
ATANH_CLIPPED_TERM = 17.0


def atanh_error(y, t, reduction="sum", sample_weight=None):
    """Fahlman's (1988) hyperbolic-arctangent error: its error term is log((1+d)/(1−d)) = 2 atanh(d), d = y − t.

    Per element ``E(d) = (1+d) log(1+d) + (1−d) log(1−d)``, so that
    ``∂E/∂y = log((1+d)/(1−d))``: about 2d (the gradient of (y − t)²) for
    small errors, but growing without bound as |d| → 1, which pulls outputs
    stuck at the wrong end of a sigmoid out of its flat spot. As in his code,
    the term is clipped to ±17 where |d| > 0.9999999 (E continues linearly
    there), so any |d| is allowed. Meant for outputs and targets in a range of
    width 1 (logistic 0/1, or symmetric ±0.5); reductions as ``half_sse``
    (``'none'`` sums over the outputs of each sample; the default ``'sum'`` is
    the total error).
    """
    _check_reduction(reduction, "atanh_error")
    _check_same_shape(y, t, "atanh_error")
    d = y - t
    dc = F.clip(d, -ATANH_CLIP, ATANH_CLIP)
    smooth = (dc + 1.0) * F.log1p(dc) + (1.0 - dc) * F.log1p(-dc)
    per = smooth + (F.abs(d) - F.abs(dc)) * ATANH_CLIPPED_TERM     # the linear tail beyond the clip
    if per.ndim > 1:
        per = F.sum(per, axis=tuple(range(1, per.ndim)))
    return _reduce(per, reduction, sample_weight, "atanh_error")


def mse_loss(y, t, reduction="mean", sample_weight=None):
    _check_reduction(reduction, "mse_loss")
    _check_same_shape(y, t, "mse_loss")
    d = y - t
    return _reduce(d * d, reduction, sample_weight, "mse_loss")


def l1_loss(y, t, reduction="mean", sample_weight=None):
    _check_reduction(reduction, "l1_loss")
    _check_same_shape(y, t, "l1_loss")
    return _reduce(F.abs(y - t), reduction, sample_weight, "l1_loss")


def huber_loss(y, t, reduction="mean", delta=1.0, sample_weight=None):
    """½d² where |d| < delta, else delta(|d| − ½delta) (PyTorch's huber_loss)."""
    _check_reduction(reduction, "huber_loss")
    _check_same_shape(y, t, "huber_loss")
    d = y - t
    a = F.abs(d)
    small = _arr(a) < delta
    loss = F.where(small, d * d * 0.5, (a - 0.5 * delta) * delta)
    return _reduce(loss, reduction, sample_weight, "huber_loss")


# --------------------------------------------------------------------- classification


def _class_last(x):
    """(N, C, d1, ...) -> (N*d1*..., C) with the class axis last, and the (N, d1, ...) shape."""
    shape = x.shape
    if x.ndim == 2:
        return x, shape[:1]
    axes = (0,) + tuple(range(2, x.ndim)) + (1,)
    moved = F.transpose(x, axes)
    return F.reshape(moved, (-1, shape[1])), (shape[0],) + shape[2:]


def _check_logits(x, name):
    if x.ndim < 2:
        raise ValueError(f"{name}: input must be (N, C) or (N, C, d1, ...) with classes on axis 1, "
                         f"got shape {x.shape}; for one sample use x.reshape(1, -1)")


def _index_nll(logp, target, weight, ignore_index, name, label_smoothing=0.0):
    """Shared body of NLL and index-target cross-entropy over logp of shape (M, C)."""
    idx = _arr(target, logp).reshape(-1)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: class-index targets must be integers, got {idx.dtype}; "
                        f"pass probabilities with the same shape as the input instead")
    C = logp.shape[1]
    keep = idx != ignore_index
    safe = np.where(keep, idx, 0)
    if safe.size and not backend.is_device_array(safe) and (safe.min() < 0 or safe.max() >= C):
        raise ValueError(f"{name}: target classes must lie in [0, {C}) (or equal ignore_index="
                         f"{ignore_index}), got range [{idx.min()}, {idx.max()}]")
    picked = F.reshape(F.take_along_axis(logp, safe.reshape(-1, 1), axis=1), (-1,))
    dtype = logp.dtype
    wt = (np.ones_like(safe, dtype=dtype, shape=(C,)) if weight is None
          else _arr(weight, logp).astype(dtype, copy=False))
    wy = wt[safe] * keep
    loss = -(picked * wy) if (weight is not None or not keep.all()) else -picked
    if label_smoothing:
        smooth = -F.sum(logp * wt, axis=1) * (1.0 / C)
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing * keep.astype(dtype))
    return loss, wy


def nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean", sample_weight=None):
    """Negative log-likelihood of class indices given log-probabilities (N, C) or (N, C, d1, ...)."""
    _check_reduction(reduction, "nll_loss")
    _check_logits(logp, "nll_loss")
    flat, lead = _class_last(logp)
    loss, wy = _index_nll(flat, target, weight, ignore_index, "nll_loss")
    return _finish_index(loss, wy, lead, reduction, sample_weight, "nll_loss")


def _finish_index(loss, wy, lead, reduction, sample_weight, name):
    loss = F.reshape(loss, lead)
    return _reduce(loss, reduction, sample_weight, name, denom=wy.reshape(lead))


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0, sample_weight=None):
    """Softmax cross-entropy from logits: ``target`` is class indices (N,) or probabilities (N, C).

    Same semantics as ``torch.nn.functional.cross_entropy``: class ``weight``,
    ``ignore_index`` (index targets) and ``label_smoothing`` in [0, 1].
    """
    _check_reduction(reduction, "cross_entropy")
    _check_logits(logits, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must lie in [0, 1], got {label_smoothing}")
    flat, lead = _class_last(logits)
    t = _arr(target, logits)
    # (on the GPU the range of the indices is not read back at each call, which would stall the
    # device queue every step: an index out of range gives a NaN loss there; see docs/gpu.md)
    if (weight is None and not label_smoothing and t.dtype.kind in "iu" and t.shape == lead
            and t.ndim == 1 and t.size
            and (backend.is_device_array(t) or (0 <= t.min() and t.max() < flat.shape[1]))):
        # plain class indices: one fused primitive (speed; same values and derivatives)
        if sample_weight is None:
            return OPS["softmax_cross_entropy"](flat, t, reduction=reduction)
        return _reduce(OPS["softmax_cross_entropy"](flat, t), reduction, sample_weight, "cross_entropy")
    logp = F.log_softmax(flat, axis=1)
    if t.dtype.kind == "f":                                     # probabilities
        if t.shape != tuple(logits.shape):
            raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                             f"{tuple(logits.shape)}, got {t.shape}")
        tflat = np.moveaxis(t, 1, -1).reshape(-1, logits.shape[1]) if t.ndim > 2 else t
        C = logits.shape[1]
        if label_smoothing:
            tflat = tflat * (1.0 - label_smoothing) + label_smoothing / C
        if weight is not None:
            tflat = tflat * _arr(weight, logits).astype(tflat.dtype, copy=False)
        loss = F.reshape(-F.sum(logp * tflat.astype(logp.dtype, copy=False), axis=1), lead)
        return _reduce(loss, reduction, sample_weight, "cross_entropy")
    loss, wy = _index_nll(logp, target, weight, ignore_index, "cross_entropy", label_smoothing)
    return _finish_index(loss, wy, lead, reduction, sample_weight, "cross_entropy")


def binary_cross_entropy(p, t, weight=None, reduction="mean", sample_weight=None):
    """−[t log p + (1−t) log(1−p)] on probabilities, each log clamped at −100 as PyTorch does."""
    _check_reduction(reduction, "binary_cross_entropy")
    _check_same_shape(p, t, "binary_cross_entropy")
    tiny = np.exp(-100.0)   # log(tiny) = -100: PyTorch's clamp, and no log(0) in the graph
    logp = F.maximum(F.log(F.maximum(p, tiny)), -100.0)
    log1mp = F.maximum(F.log(F.maximum(1.0 - p, tiny)), -100.0)
    t = _arr(t, p)
    loss = -(logp * t + log1mp * (1.0 - t))
    if weight is not None:
        loss = loss * _arr(weight, p)
    return _reduce(loss, reduction, sample_weight, "binary_cross_entropy")


def binary_cross_entropy_with_logits(x, t, weight=None, reduction="mean", pos_weight=None,
                                     sample_weight=None):
    """BCE on logits, computed as (1−t)x + (1+(pw−1)t) softplus(−x): exact for any |x|."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    _check_same_shape(x, t, "binary_cross_entropy_with_logits")
    t = _arr(t, x)
    if pos_weight is None:
        loss = F.softplus(x) - x * t
    else:
        pw = _arr(pos_weight, x)
        loss = x * (1.0 - t) + F.softplus(-x) * (1.0 + (pw - 1.0) * t)
    if weight is not None:
        loss = loss * _arr(weight, x)
    return _reduce(loss, reduction, sample_weight, "binary_cross_entropy_with_logits")


def kl_div(input, target, reduction="mean", log_target=False, sample_weight=None):  # noqa: A002
    """KL(target || q) with ``input`` = log q, as PyTorch: target·(log target − input), 0 where target = 0.

    ``'batchmean'`` divides the sum by the batch size (the true KL per sample);
    ``'mean'`` averages over every element, as PyTorch does.
    """
    _check_reduction(reduction, "kl_div", extra=("batchmean",))
    _check_same_shape(input, target, "kl_div")
    t = _arr(target, input)
    if log_target:
        loss = F.exp(t) * (t - input) if not isinstance(target, Tensor) else F.exp(target) * (target - input)
    else:
        logt = np.where(t > 0, np.log(np.where(t > 0, t, 1.0)), 0.0).astype(t.dtype)
        tt = target if isinstance(target, Tensor) else t
        loss = tt * (logt - input)
    if reduction == "batchmean":
        total = _reduce(loss, "sum", sample_weight, "kl_div")
        return total * (1.0 / (input.shape[0] if input.ndim else 1))
    return _reduce(loss, reduction, sample_weight, "kl_div")
