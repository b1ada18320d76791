"""Optimizers: the backprop training-algorithm family, one step(closure) interface, and a name registry."""
from . import lr_scheduler
from .adaptive_lr import BoldDriver, DeltaBarDelta, SuperSAB
from .conjugate_gradient import ConjugateGradient, ScaledConjugateGradient
from .first_order import SGD, Adagrad, Adam, AdamW, AMSGrad, NAdam, RMSprop
from .hessian_free import HessianFree
from .lbfgs import LBFGS
from .levenberg_marquardt import BayesianRegularization, LevenbergMarquardt
from .optimizer import Optimizer
from .private import PerExampleClipping
from .quickprop import Quickprop
from .registry import get, get_class, names, register
from .rprop import IRpropMinus, IRpropPlus, RpropMinus, RpropPlus, Sarprop

Rprop = RpropPlus

_NAMES = {
    "sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "amsgrad": AMSGrad,
    "nadam": NAdam, "bold_driver": BoldDriver, "delta_bar_delta": DeltaBarDelta, "supersab": SuperSAB,
    "quickprop": Quickprop, "rprop+": RpropPlus, "rprop": RpropPlus, "rprop-": RpropMinus,
    "irprop+": IRpropPlus, "irprop-": IRpropMinus, "sarprop": Sarprop, "lbfgs": LBFGS, "lm": LevenbergMarquardt,
    "br": BayesianRegularization, "cg": ConjugateGradient, "scg": ScaledConjugateGradient,
    "hessian_free": HessianFree,
}
for _name, _cls in _NAMES.items():
    register(_name, _cls)
