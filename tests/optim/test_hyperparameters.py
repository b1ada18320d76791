"""Every optimizer of rg.optim refuses bad hyperparameters when it is built, naming the optimizer and
the argument: one table of optimizer name x bad hyperparameter, plus a sweep that gives a string to
every numeric argument of every constructor (so a hyperparameter left without a rule is caught)."""
import inspect
import re

import numpy as np
import pytest

import retrograd as rg

NAN = float("nan")
INF = float("inf")

# name -> [(hyperparameters, exception type, fragment of the message)]
BAD = {
    "sgd": [({"lr": -0.1}, ValueError, "SGD: lr must be a number >= 0, got -0.1"),
            ({"lr": "fast"}, TypeError, "SGD: lr must be a number >= 0, got str 'fast'"),
            ({"lr": NAN}, ValueError, "SGD: lr must be a number >= 0, got nan"),
            ({"lr": True}, TypeError, "SGD: lr must be a number"),
            ({"momentum": -0.9}, ValueError, "SGD: momentum must be a number in [0, 1]"),
            ({"nesterov": "yes"}, TypeError, "SGD: nesterov must be True or False"),
            ({"weight_decay": -1e-4}, ValueError, "SGD: weight_decay must be a number >= 0"),
            ({"clip_norm": 0.0}, ValueError, "SGD: clip_norm must be None or a number > 0"),
            ({"clip_value": "1"}, TypeError, "SGD: clip_value must be None or a number > 0")],
    "adagrad": [({"lr": -1.0}, ValueError, "Adagrad: lr must be a number >= 0"),
                ({"lr_decay": -0.1}, ValueError, "Adagrad: lr_decay must be a number >= 0"),
                ({"initial_accumulator_value": -1}, ValueError, "Adagrad: initial_accumulator_value"),
                ({"eps": "tiny"}, TypeError, "Adagrad: eps must be a number >= 0")],
    "rmsprop": [({"lr": -1e-3}, ValueError, "RMSprop: lr must be a number >= 0"),
                ({"alpha": 1.5}, ValueError, "RMSprop: alpha must be a number in [0, 1]"),
                ({"eps": -1e-8}, ValueError, "RMSprop: eps must be a number >= 0"),
                ({"centered": 1}, TypeError, "RMSprop: centered must be True or False")],
    "adam": [({"lr": -1e-3}, ValueError, "Adam: lr must be a number >= 0"),
             ({"betas": (0.9, 1.0)}, ValueError, "Adam: betas[1] (beta2) must be a number in [0, 1)"),
             ({"betas": (-0.1, 0.999)}, ValueError, "Adam: betas[0] (beta1) must be a number in [0, 1)"),
             ({"betas": 0.9}, TypeError, "Adam: betas must be a pair (beta1, beta2)"),
             ({"betas": ("a", 0.9)}, TypeError, "Adam: betas[0] (beta1) must be a number"),
             ({"eps": -1.0}, ValueError, "Adam: eps must be a number >= 0"),
             ({"amsgrad": "no"}, TypeError, "Adam: amsgrad must be True or False")],
    "adamw": [({"lr": "1e-3"}, TypeError, "AdamW: lr must be a number"),
              ({"weight_decay": -0.01}, ValueError, "AdamW: weight_decay must be a number >= 0")],
    "amsgrad": [({"lr": -INF}, ValueError, "AMSGrad: lr must be a number >= 0"),
                ({"betas": (0.9,)}, TypeError, "AMSGrad: betas must be a pair")],
    "nadam": [({"lr": -2e-3}, ValueError, "NAdam: lr must be a number >= 0"),
              ({"momentum_decay": -4e-3}, ValueError, "NAdam: momentum_decay must be a number >= 0")],
    "bold_driver": [({"lr": -0.01}, ValueError, "BoldDriver: lr must be a number >= 0"),
                    ({"lr_inc": 0.9}, ValueError, "BoldDriver: lr_inc must be a number >= 1"),
                    ({"lr_dec": 0.0}, ValueError, "BoldDriver: lr_dec must be a number in (0, 1]"),
                    ({"max_perf_inc": 0.5}, ValueError, "BoldDriver: max_perf_inc must be a number >= 1"),
                    ({"momentum": 1.2}, ValueError, "BoldDriver: momentum must be a number in [0, 1]")],
    "delta_bar_delta": [({"lr": -0.01}, ValueError, "DeltaBarDelta: lr must be a number >= 0"),
                        ({"kappa": -1e-3}, ValueError, "DeltaBarDelta: kappa must be a number >= 0"),
                        ({"phi": 2.0}, ValueError, "DeltaBarDelta: phi must be a number in [0, 1]"),
                        ({"theta": "0.7"}, TypeError, "DeltaBarDelta: theta must be a number")],
    "supersab": [({"lr": -0.01}, ValueError, "SuperSAB: lr must be a number >= 0"),
                 ({"eta_plus": 0.5}, ValueError, "SuperSAB: eta_plus must be a number >= 1"),
                 ({"eta_minus": 0.0}, ValueError, "SuperSAB: eta_minus must be a number in (0, 1]"),
                 ({"max_lr": 0.0}, ValueError, "SuperSAB: max_lr must be None or a number > 0")],
    "quickprop": [({"lr": -0.01}, ValueError, "Quickprop: lr must be a number >= 0"),
                  ({"mu": 0.0}, ValueError, "Quickprop: mu must be a number > 0"),
                  ({"decay": -1e-4}, ValueError, "Quickprop: decay must be a number >= 0")],
    "rprop": [({"lr": 0.0}, ValueError, "RpropPlus: lr must be a number > 0"),
              ({"etas": (1.5, 1.2)}, ValueError, "RpropPlus: etas[0] (eta_minus) must be a number in (0, 1)"),
              ({"etas": (0.5, 0.9)}, ValueError, "RpropPlus: etas[1] (eta_plus) must be a number > 1")],
    "rprop+": [({"lr": -0.1}, ValueError, "RpropPlus: lr must be a number > 0"),
               ({"step_sizes": (1.0, 0.1)}, ValueError,
                "RpropPlus: step_sizes must be a pair (min, max) with min <= max")],
    "rprop-": [({"lr": "0.1"}, TypeError, "RpropMinus: lr must be a number"),
               ({"step_sizes": (-1e-6, 50.0)}, ValueError, "RpropMinus: step_sizes[0] (min) must be a number >= 0")],
    "irprop+": [({"lr": -0.1}, ValueError, "IRpropPlus: lr must be a number > 0"),
                ({"etas": 0.5}, TypeError, "IRpropPlus: etas must be a pair (eta_minus, eta_plus)")],
    "irprop-": [({"lr": NAN}, ValueError, "IRpropMinus: lr must be a number > 0"),
                ({"step_sizes": (1e-6, NAN)}, ValueError, "IRpropMinus: step_sizes[1] (max) must be")],
    "sarprop": [({"lr": -0.1}, ValueError, "Sarprop: lr must be a number > 0"),
                ({"k1": -1e-6}, ValueError, "Sarprop: k1 must be a number >= 0"),
                ({"k3": "0.8"}, TypeError, "Sarprop: k3 must be a number"),
                ({"temperature": -0.015}, ValueError, "Sarprop: temperature must be a number >= 0")],
    "lbfgs": [({"lr": 0.0}, ValueError, "LBFGS: lr must be a number > 0"),
              ({"max_iter": 2.5}, ValueError, "LBFGS: max_iter must be a whole number >= 1, got 2.5"),
              ({"max_iter": "20"}, TypeError, "LBFGS: max_iter must be a whole number"),
              ({"max_eval": 0}, ValueError, "LBFGS: max_eval must be None or a whole number >= 1"),
              ({"history_size": 0}, ValueError, "LBFGS: history_size must be a whole number >= 1"),
              ({"tolerance_grad": -1e-7}, ValueError, "LBFGS: tolerance_grad must be a number >= 0"),
              ({"line_search_fn": "wolfe"}, ValueError, "LBFGS: line_search_fn must be one of None, 'strong_wolfe'")],
    "cg": [({"lr": -1.0}, ValueError, "ConjugateGradient: lr must be a number > 0"),
           ({"beta": "pr"}, ValueError, "ConjugateGradient: beta must be one of 'fr', 'pr+', 'hs'"),
           ({"c1": 0.0}, ValueError, "ConjugateGradient: c1 must be a number in (0, 1)"),
           ({"c1": 0.5, "c2": 0.1}, ValueError, "ConjugateGradient: the Wolfe constants need c1 < c2"),
           ({"max_ls": 0}, ValueError, "ConjugateGradient: max_ls must be a whole number >= 1")],
    "scg": [({"sigma": 0.0}, ValueError, "ScaledConjugateGradient: sigma must be a number > 0"),
            ({"lambda_": -5e-7}, ValueError, "ScaledConjugateGradient: lambda_ must be a number > 0"),
            ({"lambda_min": 1.0, "lambda_max": 0.5}, ValueError, "need lambda_min <= lambda_max")],
    "lm": [({"mu": -1e-3}, ValueError, "LevenbergMarquardt: mu must be a number > 0"),
           ({"mu_dec": 1.5}, ValueError, "LevenbergMarquardt: mu_dec must be a number in (0, 1)"),
           ({"mu_inc": 1.0}, ValueError, "LevenbergMarquardt: mu_inc must be a number > 1"),
           ({"mu_max": "big"}, TypeError, "LevenbergMarquardt: mu_max must be a number > 0"),
           ({"jacobian": "forward"}, ValueError, "LevenbergMarquardt: jacobian must be one of"),
           ({"error_weights": ["a", "b"]}, TypeError, "LevenbergMarquardt: error_weights must be an array of numbers"),
           ({"error_weights": [1.0, -1.0]}, ValueError, "LevenbergMarquardt: error_weights must be finite and >= 0")],
    "br": [({"mu": 0.0}, ValueError, "BayesianRegularization: mu must be a number > 0"),
           ({"alpha": -1.0}, ValueError, "BayesianRegularization: alpha must be a number >= 0"),
           ({"beta": 0.0}, ValueError, "BayesianRegularization: beta must be a number > 0")],
    "hessian_free": [({"lambda_": -1.0}, ValueError, "HessianFree: lambda_ must be a number > 0"),
                     ({"curvature": "newton"}, ValueError, "HessianFree: curvature must be one of 'gn', 'hessian'"),
                     ({"max_cg": 0}, ValueError, "HessianFree: max_cg must be a whole number >= 1"),
                     ({"min_cg": 10, "max_cg": 5}, ValueError, "HessianFree: need min_cg <= max_cg"),
                     ({"cg_decay": 1.5}, ValueError, "HessianFree: cg_decay must be a number in [0, 1]"),
                     ({"preconditioner": "jacobi"}, ValueError, "HessianFree: preconditioner must be one of")],
}
ROWS = [(name, hyper, error, fragment) for name, rows in BAD.items() for hyper, error, fragment in rows]


def params():
    return [rg.tensor(np.ones((2, 3)), requires_grad=True), rg.tensor(np.zeros(3), requires_grad=True)]


def test_the_table_covers_every_registered_optimizer():
    assert set(BAD) == set(rg.optim.names())


@pytest.mark.parametrize("name, hyper, error, fragment", ROWS,
                         ids=[f"{n}-{'-'.join(h)}-{i}" for i, (n, h, _, _) in enumerate(ROWS)])
def test_bad_hyperparameter_is_refused_when_the_optimizer_is_built(name, hyper, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)):
        rg.optim.get(name, params(), **hyper)


def _numeric_arguments(cls):
    """Constructor arguments whose default is a number or a tuple of numbers (the hyperparameters)."""
    out = []
    for arg in inspect.signature(cls.__init__).parameters.values():
        d = arg.default
        numeric = isinstance(d, (int, float)) and not isinstance(d, bool)
        if numeric or (isinstance(d, tuple) and all(isinstance(v, (int, float)) for v in d)):
            out.append(arg.name)
    return out


SWEEP = [(name, arg) for name in rg.optim.names() for arg in _numeric_arguments(rg.optim.get_class(name))
         if arg != "seed"]


@pytest.mark.parametrize("name, arg", SWEEP, ids=[f"{n}-{a}" for n, a in SWEEP])
def test_every_numeric_hyperparameter_refuses_a_string(name, arg):
    with pytest.raises(TypeError, match=re.escape(f": {arg} must be")):
        rg.optim.get(name, params(), **{arg: "abc"})


@pytest.mark.parametrize("name", ["sgd", "adam", "rprop-", "quickprop"])
def test_a_parameter_group_with_a_bad_value_is_refused(name):
    opt = rg.optim.get(name, params()[:1])
    with pytest.raises(ValueError, match="lr must be a number"):
        opt.add_param_group({"params": params()[1:], "lr": -1.0})
    with pytest.raises(ValueError, match="lr must be a number"):
        rg.optim.get(name, [{"params": params(), "lr": -1.0}])


def test_a_model_instead_of_its_parameters_is_named():
    with pytest.raises(TypeError, match=r"pass the model's parameters \(model.parameters\(\)\), not the Linear"):
        rg.optim.SGD(rg.nn.Linear(2, 3), lr=0.1)


def test_edge_values_and_numpy_scalars_are_accepted():
    rg.optim.SGD(params(), lr=0.0, momentum=np.float32(0.9), weight_decay=np.float64(1e-4))
    rg.optim.Adam(params(), lr=np.float32(1e-3), betas=[0.0, 0.999])
    rg.optim.get("lbfgs", params(), max_iter=np.int64(5), max_eval=7.0)
    rg.optim.get("lm", params(), mu_max=INF)
    rg.optim.get("supersab", params(), max_lr=INF)
