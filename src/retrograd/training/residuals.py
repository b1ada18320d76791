"""Residual vectors r with ½Σr² equal to the loss, for the Levenberg-Marquardt family of optimizers."""
import math

from ..autograd import functions as F


def residual_function(loss_fn, name):
    """``f(outputs, targets) -> r`` (1-D, graph attached) such that ½·Σr² equals the loss.

    Squared-error losses give the plain (scaled) differences, so LM sees the
    exact Gauss-Newton model. Any other loss with ``reduction='none'`` gives
    ``r_i = sqrt(2·w·l_i)`` (``w`` = 1/N for a mean), which keeps ½Σr² equal
    to the loss but is only an approximation to its curvature.
    """
    if hasattr(loss_fn, "residuals"):
        return loss_fn.residuals
    key = (name or "").lower().replace("_", "").replace("loss", "")
    reduction = getattr(loss_fn, "reduction", "mean")
    if key in ("halfsse", "sse"):
        return _scaled_difference(lambda n: 1.0 if reduction == "sum" else 1.0 / n)
    if key in ("mse", "meansquarederror"):
        return _scaled_difference(lambda n: 2.0 / n if reduction == "mean" else 2.0)
    return _root_of_loss(loss_fn, name, reduction)


def _scaled_difference(weight):
    def residuals(out, target):
        d = F.reshape(out - F.reshape(target, out.shape), (-1,))
        w = weight(d.shape[0])
        return d if w == 1.0 else d * math.sqrt(w)
    return residuals


def _root_of_loss(loss_fn, name, reduction):
    from .. import nn
    if not name:
        raise ValueError("fit(): an optimizer with closure_kind='residuals' (LM, BR) needs a "
                         "squared-error loss such as 'half_sse' or 'mse', or a loss by name")
    per_example = nn.get_loss(name, reduction="none")

    def residuals(out, target):
        l = F.reshape(per_example(out, target), (-1,))
        w = 1.0 / l.shape[0] if reduction == "mean" else 1.0
        return F.sqrt(l * (2.0 * w) + 1e-30)
    return residuals
