"""Datasets (generated classics, scikit-learn's shipped sets, MNIST-1D, Fashion-MNIST), file loaders, scalers.

Every loader returns NumPy arrays: ``(X, y)`` for the generated problems and files, and a
``Split(X_train, y_train, X_test, y_test)`` for the sets with a standard train/test split.
"""
from .errors import DataError
from .generated import encoder, parity, symmetry, two_spirals, xor
from .idx import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, load_fashion_mnist, read_idx, write_idx
from .mnist1d import load_mnist1d
from .scaling import MinMaxScaler, Standardizer, get_scaler
from .shipped import load_breast_cancer, load_digits, load_iris, load_wine
from .split import Split, train_test_split
from .tabular import load_csv, load_npz, read_table, save_csv
from .validate import check_features, check_labels, check_targets

__all__ = ["DataError", "encoder", "parity", "symmetry", "two_spirals", "xor", "FASHION_MNIST_CLASSES",
           "FASHION_MNIST_DIR", "load_fashion_mnist", "read_idx", "write_idx", "load_mnist1d",
           "MinMaxScaler", "Standardizer", "get_scaler", "load_breast_cancer", "load_digits",
           "load_iris", "load_wine", "Split", "train_test_split", "load_csv", "load_npz", "read_table",
           "save_csv", "check_features", "check_labels", "check_targets"]
