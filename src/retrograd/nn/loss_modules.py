"""Loss modules (holding the reduction and other options) and the name registry ``get_loss``."""
from . import losses as L
from .module import Module


class _Loss(Module):
    """A loss module: ``loss(prediction, target, sample_weight=None)`` with options fixed at construction."""
    fn = None
    name = None
    default_reduction = "mean"
    traceable = True

    def __init__(self, reduction=None, **options):
        super().__init__()
        self.reduction = self.default_reduction if reduction is None else reduction
        L._check_reduction(self.reduction, type(self).__name__,
                           extra=("batchmean",) if self.name == "kl_div" else ())
        self.options = options

    def forward(self, prediction, target, sample_weight=None):
        return type(self).fn(prediction, target, reduction=self.reduction,
                             sample_weight=sample_weight, **self.options)

    def extra_repr(self):
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"reduction={self.reduction!r}{opts}"


def _loss_class(cls_name, fn, name, default_reduction="mean", doc=None):
    return type(cls_name, (_Loss,), {"fn": staticmethod(fn), "name": name,
                                      "default_reduction": default_reduction,
                                      "__doc__": doc or f"Module form of ``{fn.__name__}``."})


HalfSSE = _loss_class("HalfSSE", L.half_sse, "half_sse", "sum",
                      "E = ½ Σ (y − t)², the classic backprop error (default reduction 'sum').")
AtanhError = _loss_class("AtanhError", L.atanh_error, "atanh_error", "sum",
                         "Fahlman's hyperbolic-arctangent error (error term log((1+d)/(1−d)), clipped at ±17); "
                         "default reduction 'sum'.")
MSELoss = _loss_class("MSELoss", L.mse_loss, "mse")
L1Loss = _loss_class("L1Loss", L.l1_loss, "l1")
HuberLoss = _loss_class("HuberLoss", L.huber_loss, "huber")
CrossEntropyLoss = _loss_class("CrossEntropyLoss", L.cross_entropy, "cross_entropy")
NLLLoss = _loss_class("NLLLoss", L.nll_loss, "nll")
BCELoss = _loss_class("BCELoss", L.binary_cross_entropy, "bce")
BCEWithLogitsLoss = _loss_class("BCEWithLogitsLoss", L.binary_cross_entropy_with_logits,
                                "bce_with_logits")
KLDivLoss = _loss_class("KLDivLoss", L.kl_div, "kl_div")

LOSSES = {cls.name: cls for cls in (HalfSSE, AtanhError, MSELoss, L1Loss, HuberLoss, CrossEntropyLoss, NLLLoss,
                                    BCELoss, BCEWithLogitsLoss, KLDivLoss)}
_ALIASES = {"sse": "half_sse", "half_sum_squared": "half_sse", "mse_loss": "mse", "l1_loss": "l1",
            "mae": "l1", "huber_loss": "huber", "ce": "cross_entropy", "nll_loss": "nll",
            "binary_cross_entropy": "bce", "binary_cross_entropy_with_logits": "bce_with_logits",
            "kl": "kl_div", "kldiv": "kl_div", "atanh": "atanh_error"}


def loss_names():
    return sorted(LOSSES)


def get_loss(name, **kw):
    """A new loss module by name (``half_sse``, ``mse``, ``cross_entropy``, ...); ``kw`` go to the module."""
    if isinstance(name, Module):
        return name
    key = str(name).lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(loss_names())}")
    return LOSSES[key](**kw)
