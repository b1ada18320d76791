"""Bad calls to fit / Trainer.predict get a clear TypeError, ValueError or DataError at the call, naming
the argument (and for bad values in the data, the array and the index): one table of cases."""
import re
import warnings

import numpy as np
import pytest

import retrograd as rg
from retrograd.data.errors import DataError

from .conftest import blobs, make_mlp

X, Y = blobs(n=24)                  # float32 X (24, 4), int64 labels in 0..2


def with_value(a, index, value):
    a = a.astype(np.float64 if a.dtype.kind != "f" else a.dtype)
    a[index] = value
    return a


def fit(data=(X, Y), model=None, opt=None, **kw):
    model = model if model is not None else make_mlp([4, 5, 3])
    opt = opt if opt is not None else rg.optim.SGD(model.parameters(), lr=0.1)
    kw.setdefault("epochs", 2)
    return rg.fit(model, "cross_entropy", opt, data, quiet=True, **kw)


def mixed_dtype_model():
    model = make_mlp([4, 5, 3])
    model[2].to(np.float64)
    return model


def other_models_optimizer():
    return rg.optim.SGD(make_mlp([4, 5, 3]).parameters(), lr=0.1)


def nan_weights_model():
    model = make_mlp([4, 5, 3])
    model[0].weight.data[1, 2] = np.nan
    return model


def predict(X_new):
    model = make_mlp([4, 5, 3])
    trainer = rg.Trainer(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=0.1), quiet=True)
    return trainer.predict(X_new)


def regression_fit(y, model=None, **kw):
    model = model if model is not None else make_mlp([4, 5, 1])
    return rg.fit(model, "mse", rg.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1,
                  quiet=True, **kw)


# (id, the bad call, exception type, fragment of the message)
CASES = [
    # bad values in the data: the array and the first index, before any step
    ("nan in X", lambda: fit((with_value(X, (3, 1), np.nan), Y)), DataError,
     "train_data X holds nan at X[3, 1] (row 3, column 1)"),
    ("inf in float y", lambda: regression_fit(with_value(np.zeros((24, 1)), (5, 0), np.inf)), DataError,
     "train_data y holds inf at y[5, 0]"),
    ("-inf in 1-D y", lambda: regression_fit(with_value(np.zeros(24), 7, -np.inf),
                                             model=make_mlp([4, 1])), DataError,
     "train_data y holds -inf at y[7] (row 7)"),
    ("nan in validation X", lambda: fit(validation_data=(with_value(X[:6], (2, 0), np.nan), Y[:6])),
     DataError, "validation_data X holds nan at X[2, 0]"),
    ("nan in validation y", lambda: fit(validation_data=(X[:6], with_value(np.zeros((6, 3)), (4, 2), np.nan)),
                                        epochs=1), DataError, "validation_data y holds nan at y[4, 2]"),
    ("nan in the split-off part names the row of train_data",
     lambda: fit((with_value(X, (22, 3), np.nan), Y), validation_split=0.25), DataError,
     "train_data X holds nan at X[22, 3]"),
    ("too large for float32", lambda: fit((with_value(X.astype(np.float64), (9, 0), 1e39), Y)), DataError,
     "too large for the model's dtype float32"),
    # what the arrays are
    ("empty training set", lambda: fit((X[:0], Y[:0])), ValueError, "train_data is empty"),
    ("empty validation set", lambda: fit(validation_data=(X[:0], Y[:0])), ValueError,
     "validation_data is empty"),
    ("string X", lambda: fit((X.astype(str), Y)), TypeError, "train_data X must hold real numbers, got dtype <U"),
    ("complex X", lambda: fit((X + 1j, Y)), TypeError, "complex numbers"),
    ("object X", lambda: fit((X.astype(object), Y)), TypeError, "Python objects"),
    ("string labels", lambda: fit((X, np.array(["a", "b", "c"] * 8))), TypeError, "encode text labels"),
    ("complex validation y", lambda: fit(validation_data=(X[:4], Y[:4] + 0j)), TypeError,
     "validation_data y must hold real numbers"),
    ("a scalar X", lambda: fit((np.float32(1.0), Y)), ValueError, "must have a first (examples) axis"),
    ("not a pair", lambda: fit(X), TypeError, "train_data must be a pair (X, y)"),
    ("a string as data", lambda: fit("data.csv"), TypeError,
     "train_data must be a pair (X, y) of arrays, got a string"),
    # counts and sizes
    ("negative epochs", lambda: fit(epochs=-1), ValueError, "fit(): epochs must be >= 0"),
    ("fractional epochs", lambda: fit(epochs=2.5), ValueError, "fit(): epochs must be a whole number"),
    ("epochs as a string", lambda: fit(epochs="10"), TypeError, "fit(): epochs must be a whole number"),
    ("epochs None", lambda: fit(epochs=None), TypeError, "fit(): epochs must be a whole number"),
    ("fractional batch size", lambda: fit(batch_size=2.5), ValueError, "fit(): batch_size must be a whole number"),
    ("negative batch size", lambda: fit(batch_size=-3), ValueError, "fit(): batch_size must be >= 1"),
    ("batch size as a string", lambda: fit(batch_size="32"), TypeError, "fit(): batch_size must be a whole number"),
    ("unknown mode", lambda: fit(mode="full"), ValueError, "fit(): mode must be one of"),
    ("validation_split as a string", lambda: fit(validation_split="0.2"), TypeError,
     "fit(): validation_split must be a number"),
    ("blas_threads 0", lambda: fit(blas_threads=0), ValueError, "blas_threads"),
    ("bptt k1 0", lambda: fit(bptt=(0, 2)), ValueError, "fit(): bptt k1 must be >= 1"),
    ("bptt of three", lambda: fit(bptt=(1, 2, 3)), TypeError, "fit(): bptt must be an int or a pair"),
    ("divergence factor below 1", lambda: fit(divergence_factor=0.5), ValueError, "divergence_factor must be > 1"),
    ("divergence factor a string", lambda: fit(divergence_factor="big"), TypeError, "divergence_factor"),
    ("callbacks not a list", lambda: fit(callbacks=5), TypeError, "fit(): callbacks must be a list"),
    ("stopping patience negative", lambda: fit(stop={"patience": -1}, validation_split=0.25), ValueError,
     "EarlyStopping: patience must be >= 0"),
    ("stopping goal a string", lambda: fit(stop={"goal": "low"}), TypeError, "ErrorGoal: goal must be a number"),
    ("time limit 0", lambda: fit(stop={"time": 0}), ValueError, "TimeLimit: seconds must be > 0"),
    ("bit fail limit negative", lambda: fit(stop={"bit_fail": (-0.1, 0)}), ValueError, "BitFail: limit"),
    # model and optimizer
    ("optimizer of another model", lambda: fit(opt=other_models_optimizer()), ValueError,
     "holds none of the model's 4 trainable parameters"),
    ("optimizer by name", lambda: fit(opt="adam"), TypeError, "optimizer must be an optimizer object"),
    ("model of mixed dtypes", lambda: fit(model=mixed_dtype_model()), ValueError,
     "the model's parameters mix dtypes ['float32', 'float64']"),
    ("NaN weights before training", lambda: fit(model=nan_weights_model()), ValueError,
     "parameter '0.weight' holds NaN or Inf before training"),
    # predict checks its input as fit checks data
    ("predict strings", lambda: predict(X.astype(str)), TypeError, "predict(): X must hold real numbers"),
    ("predict complex", lambda: predict(X + 1j), TypeError, "complex numbers"),
    ("predict NaN", lambda: predict(with_value(X, (0, 2), np.nan)), DataError, "predict(): X holds nan at X[0, 2]"),
]


@pytest.mark.parametrize("call, error, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_call_raises_a_clear_error_at_the_call(call, error, fragment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # a run that got past the check would warn
        with pytest.raises(error, match=re.escape(fragment)):
            call()


def test_data_errors_are_value_errors_that_say_it_is_the_data():
    with pytest.raises(ValueError, match="bad data, not a learning-rate problem"):
        fit((with_value(X, (0, 0), np.inf), Y))


def test_an_optimizer_holding_part_of_the_model_warns_unless_the_rest_is_frozen():
    model = make_mlp([4, 5, 3])
    head = rg.optim.SGD(model[2].parameters(), lr=0.1)
    with pytest.warns(UserWarning, match=r"does not hold 2 of the model's 4 trainable parameters \(0.weight, 0.bias\)"):
        fit(model=model, opt=head, epochs=1)
    model[0].requires_grad_(False)
    frozen_first = model[0].weight.data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(model=model, opt=head, epochs=1)
    np.testing.assert_array_equal(model[0].weight.data, frozen_first)
