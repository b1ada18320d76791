"""The dtype rule of fit and Trainer.predict (docs/training.md): the model computes in its parameters'
dtype; data are cast to it once, as if the caller had cast them, integer labels stay integers,
values that do not fit are refused and integers beyond the exact range warn."""
import warnings

import numpy as np
import pytest

import retrograd as rg

from .conftest import blobs, make_mlp, weights


def train(X, y, dtype, loss="cross_entropy", classes=3):
    model = make_mlp([X.shape[1], 5, classes], dtype=dtype)
    trainer = rg.Trainer(model, loss, rg.optim.SGD(model.parameters(), lr=0.1, momentum=0.5), quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the ordinary casts are silent
        h = trainer.fit((X, y), epochs=3, validation_data=(X[:10], y[:10]))
    return trainer, h, weights(model)


@pytest.mark.parametrize("model_dtype, data_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                                     (np.float32, np.int64), (np.float64, np.bool_)])
def test_data_are_cast_to_the_parameters_dtype_as_if_the_caller_had(model_dtype, data_dtype):
    X, y = blobs(n=40, dtype=np.float64)
    X = {np.bool_: X > 0, np.int64: np.round(X).astype(np.int64)}.get(data_dtype, X.astype(data_dtype))
    trainer, h, w = train(X, y, model_dtype)
    assert trainer.X_train.dtype == model_dtype and trainer.val[0].dtype == model_dtype
    assert trainer.y_train.dtype == np.int64                     # class labels stay integers
    _, h_cast, w_cast = train(X.astype(model_dtype), y, model_dtype)
    assert h["loss"] == h_cast["loss"] and h["val_loss"] == h_cast["val_loss"]
    for a, b in zip(w, w_cast):
        assert a.dtype == model_dtype
        np.testing.assert_array_equal(a, b)


def test_float_targets_take_the_parameters_dtype():
    X, _ = blobs(n=40)
    y = np.sin(X[:, :1]).astype(np.float64)
    trainer, _, _ = train(X, y, np.float32, loss="mse", classes=1)
    assert trainer.y_train.dtype == np.float32


def test_predict_computes_in_the_models_dtype():
    X, y = blobs(n=40)
    trainer, _, _ = train(X, y, np.float32)
    out = trainer.predict(X.astype(np.float64))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, trainer.predict(X.astype(np.float32)))


def test_integers_beyond_the_exact_range_warn_that_they_are_rounded():
    X, y = blobs(n=40)
    big = np.round(X * 1e7).astype(np.int64)      # up to ~3e7 > 2**24
    model = make_mlp([4, 5, 3])
    with pytest.warns(UserWarning, match=r"train_data X holds integers up to \d+, beyond float32's exact range"):
        rg.fit(model, "cross_entropy", rg.optim.SGD(model.parameters(), lr=1e-12), (big, y), epochs=1, quiet=True)


def test_an_embedding_model_keeps_integer_inputs():
    X = np.random.default_rng(0).integers(0, 10, size=(30, 3))
    y = (X.sum(axis=1) % 2).astype(np.int64)
    model = rg.nn.Sequential(rg.nn.Embedding(10, 4), rg.nn.Flatten(), rg.nn.Linear(12, 2))
    trainer = rg.Trainer(model, "cross_entropy", rg.optim.Adam(model.parameters()), quiet=True)
    trainer.fit((X, y), epochs=1)
    assert trainer.X_train.dtype.kind == "i"
