"""scikit-learn sets, the stratified splits, MNIST-1D generated locally, scalers."""
import numpy as np
import pytest

import retrograd as rg


@pytest.mark.parametrize("name,n_train,n_test,width,classes", [
    ("load_digits", 1437, 360, 64, 10),
    ("load_iris", 120, 30, 4, 3),
    ("load_wine", 142, 36, 13, 3),
    ("load_breast_cancer", 455, 114, 30, 2),
])
def test_sklearn_sets(name, n_train, n_test, width, classes):
    pytest.importorskip("sklearn")
    s = getattr(rg.data, name)()
    assert s.X_train.shape == (n_train, width) and s.X_test.shape == (n_test, width)
    assert s.y_train.dtype == np.int64 and set(np.unique(s.y_train)) == set(range(classes))
    again = getattr(rg.data, name)(seed=0)
    np.testing.assert_array_equal(s.X_test, again.X_test)


def test_digits_split_matches_benchmark_split():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(d.data, d.target, test_size=0.2, random_state=0, stratify=d.target)
    s = rg.data.load_digits()
    np.testing.assert_array_equal(s.X_train, X_tr.astype(np.float32))
    np.testing.assert_array_equal(s.y_test, y_te)
    assert sklearn


def test_numpy_stratified_split_keeps_proportions():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100)[:, None].astype(float)
    s = rg.data.train_test_split(X, y, test_size=0.2, seed=3)
    np.testing.assert_array_equal(np.bincount(s.y_test), [10, 6, 4])
    assert sorted(np.concatenate([s.X_train, s.X_test]).ravel().tolist()) == list(range(100))
    s2 = rg.data.train_test_split(X, y, test_size=0.2, seed=3)
    np.testing.assert_array_equal(s.X_test, s2.X_test)


def test_mnist1d_local_generation_matches_package():
    pytest.importorskip("mnist1d")
    from mnist1d.data import get_dataset_args, make_dataset
    state = np.random.get_state()
    s = rg.data.load_mnist1d()
    assert np.array_equal(np.random.get_state()[1], state[1])     # global RNG left alone
    assert s.X_train.shape == (4000, 40) and s.X_test.shape == (1000, 40)
    ref = make_dataset(get_dataset_args())
    np.testing.assert_allclose(s.X_test, ref["x_test"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(s.y_train, ref["y"])


def test_standardizer_fits_train_only_and_round_trips():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(200, 3))
    train[:, 2] = 5.0                                   # constant column: std 1, centred
    scaler = rg.data.Standardizer().fit(train)
    Z = scaler.transform(train)
    np.testing.assert_allclose(Z[:, :2].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :2].std(0), 1, atol=1e-12)
    np.testing.assert_array_equal(Z[:, 2], 0)
    test = rng.normal(size=(5, 3))
    np.testing.assert_allclose(scaler.transform(test), (test - train.mean(0)) / np.where(train.std(0) > 0, train.std(0), 1))
    restored = rg.data.Standardizer().load_state_dict(scaler.state_dict())
    np.testing.assert_allclose(restored.transform(test), scaler.transform(test))
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(test)), test)
    with pytest.raises(ValueError, match="fitted on 3 features"):
        scaler.transform(np.zeros((2, 4)))


def test_minmax_scaler():
    X = np.array([[0.0, 10.0], [5.0, 10.0], [10.0, 10.0]])
    m = rg.data.MinMaxScaler((-1, 1)).fit(X)
    np.testing.assert_allclose(m.transform(X), [[-1, -1], [0, -1], [1, -1]])
    again = rg.data.MinMaxScaler().load_state_dict(m.state_dict())
    np.testing.assert_allclose(again.transform(np.array([[2.5, 10.0]])), [[-0.5, -1]])
    with pytest.raises(RuntimeError, match="fit"):
        rg.data.MinMaxScaler().transform(X)
