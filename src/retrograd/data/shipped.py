"""scikit-learn's shipped datasets (digits, iris, wine, breast cancer) as a seeded, stratified Split."""
import numpy as np

from .split import Split


def _sklearn_datasets(name):
    try:
        from sklearn import datasets
    except ImportError:
        raise ImportError(f"rg.data.{name} needs scikit-learn, which ships the data: "
                          "pip install 'retrograd[sklearn]'") from None
    return datasets


def _load(name, loader_name, test_size, seed, dtype):
    """Load one sklearn set and split it like the benchmarks do (stratified, random_state=seed)."""
    datasets = _sklearn_datasets(name)
    from sklearn.model_selection import train_test_split
    bunch = getattr(datasets, loader_name)()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    return Split(X_tr.astype(dtype), y_tr, X_te.astype(dtype), y_te)


def load_digits(test_size=0.2, seed=0, dtype=np.float32):
    """8x8 handwritten digits: 1797 x 64 pixels in 0..16, 10 classes (1437 train / 360 test by default)."""
    return _load("load_digits", "load_digits", test_size, seed, dtype)


def load_iris(test_size=0.2, seed=0, dtype=np.float32):
    """Fisher's iris: 150 x 4 measurements, 3 classes."""
    return _load("load_iris", "load_iris", test_size, seed, dtype)


def load_wine(test_size=0.2, seed=0, dtype=np.float32):
    """Wine recognition: 178 x 13 chemical measurements, 3 cultivars."""
    return _load("load_wine", "load_wine", test_size, seed, dtype)


def load_breast_cancer(test_size=0.2, seed=0, dtype=np.float32):
    """Wisconsin breast cancer: 569 x 30 features, 2 classes (0 malignant, 1 benign)."""
    return _load("load_breast_cancer", "load_breast_cancer", test_size, seed, dtype)
