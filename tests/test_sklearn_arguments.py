"""retrograd.sklearn's estimators check their constructor arguments the scikit-learn way: never in
__init__ or set_params, always at fit, with a TypeError/ValueError naming the parameter."""
import re

import numpy as np
import pytest

pytest.importorskip("sklearn")
from retrograd.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

X = np.random.default_rng(0).standard_normal((30, 3))
Y_CLASS = np.arange(30) % 3
Y_REG = X[:, 0]

# (id, constructor arguments, exception type, fragment of the message)
CASES = [
    ("hidden size 0", dict(hidden_layer_sizes=(0,)), ValueError, "'hidden_layer_sizes' parameter of"),
    ("hidden size negative", dict(hidden_layer_sizes=(8, -3)), ValueError, "an int >= 1 or a sequence of them"),
    ("hidden sizes a string", dict(hidden_layer_sizes="10"), ValueError, "'hidden_layer_sizes'"),
    ("hidden size fractional", dict(hidden_layer_sizes=(2.5,)), ValueError, "'hidden_layer_sizes'"),
    ("unknown activation", dict(activation="swish2"), ValueError, "The 'activation' parameter of"),
    ("activation a number", dict(activation=3), TypeError, "'activation'"),
    ("unknown optimizer", dict(optimizer="adamx"), ValueError, "The 'optimizer' parameter of"),
    ("optimizer a number", dict(optimizer=0.1), TypeError, "'optimizer'"),
    ("unknown loss", dict(loss="hinge"), ValueError, "The 'loss' parameter of"),
    ("loss a number", dict(loss=2), TypeError, "'loss'"),
    ("unknown mode", dict(mode="full"), ValueError, "The 'mode' parameter of"),
    ("optimizer_params a list", dict(optimizer_params=[("lr", 0.1)]), TypeError, "'optimizer_params'"),
    ("negative lr in optimizer_params", dict(optimizer="sgd", optimizer_params={"lr": -0.1}), ValueError,
     "SGD: lr must be a number >= 0"),
    ("batch_size 0", dict(batch_size=0), ValueError, "The 'batch_size' parameter of"),
    ("batch_size a string", dict(batch_size="32"), TypeError, "'batch_size'"),
    ("epochs negative", dict(epochs=-1), ValueError, "'epochs' parameter of"),
    ("epochs fractional", dict(epochs=2.5), ValueError, "must be an int in the range [1, inf). Got 2.5 instead"),
    ("random_state negative", dict(random_state=-1), ValueError, "'random_state'"),
    ("random_state a string", dict(random_state="seed"), ValueError, "'random_state'"),
]


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("params, error, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_constructor_argument_is_refused_at_fit(estimator, params, error, fragment):
    est = estimator(**params)                   # never in __init__ ...
    est.set_params(**params)                    # ... nor in set_params
    y = Y_CLASS if estimator is MLPClassifier else Y_REG
    with pytest.raises(error, match=re.escape(fragment)):
        est.fit(X, y)


def test_aliases_and_modules_are_accepted():
    from retrograd import nn
    MLPRegressor(activation="tansig", loss="mae", optimizer="Rprop", hidden_layer_sizes=4, epochs=2).fit(X, Y_REG)
    MLPRegressor(activation=nn.Tanh(), loss=nn.get_loss("mse"), hidden_layer_sizes=[], epochs=1,
                 random_state=np.random.RandomState(0)).fit(X, Y_REG)
