"""retrograd.sklearn's estimators pass scikit-learn's estimator checks and learn real data."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from retrograd.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


@parametrize_with_checks([MLPClassifier(), MLPRegressor()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_classifier_learns_digits_and_keeps_float64():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(32,), optimizer="adam", optimizer_params={"lr": 0.01},
                        mode="minibatch", epochs=20, random_state=0).fit(Xtr, ytr)
    assert clf.model_[0].weight.data.dtype == np.float64
    assert clf.score(Xte, yte) > 0.93
    proba = clf.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert proba.dtype == np.float64
    same = MLPClassifier(hidden_layer_sizes=(32,), optimizer="adam", optimizer_params={"lr": 0.01},
                         mode="minibatch", epochs=20, random_state=0).fit(Xtr, ytr)
    np.testing.assert_array_equal(same.predict_proba(Xte), proba)


def test_regressor_fits_a_curve_float32_stays_float32():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(200, 1)).astype(np.float32)
    y = np.sin(X[:, 0])
    reg = MLPRegressor(hidden_layer_sizes=(16,), epochs=30).fit(X, y)
    assert reg.model_[0].weight.data.dtype == np.float32
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, y) > 0.99


@pytest.mark.parametrize("stop, expect", [({"goal": 1e9}, 1), ({"epochs": 3}, 3)])
def test_stopping_rule_by_name(stop, expect):
    X = np.linspace(-1, 1, 40).reshape(-1, 1)
    reg = MLPRegressor(optimizer="sgd", optimizer_params={"lr": 0.1}, mode="minibatch",
                       stop=stop, epochs=50).fit(X, X[:, 0] ** 2)
    assert reg.n_iter_ == expect
