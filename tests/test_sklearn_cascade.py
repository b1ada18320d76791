"""The cascade-correlation estimators pass scikit-learn's estimator checks and learn the classic problems."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import retrograd as rg  # noqa: E402
from retrograd.sklearn import CascadeCorrelationClassifier, CascadeCorrelationRegressor  # noqa: E402


# max_hidden=6 keeps the run short: on the checks' noisy data the networks would grow to the
# limit (the defaults, max_hidden=30, pass the same checks; it takes about 20 s more)
@parametrize_with_checks([CascadeCorrelationClassifier(max_hidden=6), CascadeCorrelationRegressor(max_hidden=6)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_classifier_solves_two_spirals_and_its_model_takes_raw_inputs():
    X, y = rg.data.two_spirals()
    labels = np.where(y[:, 0] > 0, "first", "second")
    clf = CascadeCorrelationClassifier(max_hidden=30, random_state=0).fit(X, labels)
    assert clf.solved_ and clf.score(X, labels) == 1.0
    assert 12 <= clf.n_hidden_units_ <= 19 and clf.n_hidden_units_ == clf.model_.n_hidden
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], clf.predict(X))
    raw = clf.model_(rg.tensor(X)).data[:, 0]                 # the input scaling is folded into the weights
    np.testing.assert_allclose(raw + 0.5, proba[:, 1], rtol=1e-10, atol=1e-12)


def test_classifier_multiclass_one_output_per_class():
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    clf = CascadeCorrelationClassifier(random_state=0).fit(X, y)
    assert clf.model_.n_outputs == 3 and clf.predict_proba(X).shape == (150, 3)
    assert clf.score(X, y) >= 0.98


def test_regressor_fits_a_curve_and_several_outputs():
    X = np.linspace(-3, 3, 80).reshape(-1, 1) * 10 + 50          # raw inputs far from the unit range
    Y = np.concatenate([np.sin((X - 50) / 10), np.cos((X - 50) / 10)], axis=1) * 100
    reg = CascadeCorrelationRegressor(error_index=0.02, random_state=0).fit(X, Y)
    assert reg.solved_ and reg.predict(X).shape == (80, 2)
    assert np.sqrt(np.mean((reg.predict(X) - Y) ** 2)) <= 0.02 * Y.std(axis=0).max()
    one = CascadeCorrelationRegressor(error_index=0.02, random_state=0).fit(X, Y[:, 0])
    assert one.predict(X).shape == (80,)
