"""Normalisation fitted on training data only: Standardizer (zero mean, unit std) and MinMaxScaler."""
import numpy as np


class _Scaler:
    """Shared fit/transform plumbing; the fitted state is a dict of arrays (saveable without pickle)."""
    _state_names = ()

    def _check_fitted(self):
        if getattr(self, self._state_names[0], None) is None:
            raise RuntimeError(f"{type(self).__name__}: call fit(X_train) before transform")

    def _check_width(self, X):
        width = getattr(self, self._state_names[0]).shape[-1]
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(f"{type(self).__name__}: fitted on {width} features, got an array of shape "
                             f"{X.shape}; transform arrays with the same columns as the training data")

    def fit_transform(self, X):
        return self.fit(X).transform(X)

    def state_dict(self):
        """The fitted statistics as NumPy arrays, e.g. for ``rg.io.save_tensors``."""
        self._check_fitted()
        return {name: np.array(getattr(self, name)) for name in self._state_names}

    def load_state_dict(self, state):
        missing = [name for name in self._state_names if name not in state]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing {missing}")
        for name in self._state_names:
            setattr(self, name, np.asarray(state[name], dtype=np.float64))
        return self


class Standardizer(_Scaler):
    """``(X - mean) / std`` per feature, with the training mean and std (ddof 0); std 1 where it is 0.

    Same convention as scikit-learn's StandardScaler, so constant features pass through centred.
    """
    _state_names = ("mean", "std")

    def __init__(self):
        self.mean = None
        self.std = None

    def fit(self, X):
        X = np.asarray(X, dtype=np.float64)
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X):
        self._check_fitted()
        X = np.asarray(X)
        self._check_width(X)
        out_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        return ((X - self.mean) / self.std).astype(out_dtype)

    def inverse_transform(self, X):
        self._check_fitted()
        return np.asarray(X) * self.std + self.mean


class MinMaxScaler(_Scaler):
    """Map each feature's training range [min, max] onto ``feature_range`` (default [0, 1]).

    Constant features map to the lower end of the range.
    """
    _state_names = ("data_min", "data_range", "feature_range")

    def __init__(self, feature_range=(0.0, 1.0)):
        lo, hi = feature_range
        if not hi > lo:
            raise ValueError(f"MinMaxScaler: feature_range must be (low, high) with high > low, got {feature_range}")
        self.feature_range = np.array([lo, hi], dtype=np.float64)
        self.data_min = None
        self.data_range = None

    def fit(self, X):
        X = np.asarray(X, dtype=np.float64)
        self.data_min = X.min(axis=0)
        span = X.max(axis=0) - self.data_min
        self.data_range = np.where(span > 0, span, 1.0)
        return self

    def transform(self, X):
        self._check_fitted()
        X = np.asarray(X)
        self._check_width(X)
        lo, hi = self.feature_range
        out_dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        return ((X - self.data_min) / self.data_range * (hi - lo) + lo).astype(out_dtype)

    def inverse_transform(self, X):
        self._check_fitted()
        lo, hi = self.feature_range
        return (np.asarray(X) - lo) / (hi - lo) * self.data_range + self.data_min


def get_scaler(name):
    """A new scaler by name: 'standard' (or 'standardize'), 'minmax', or None / 'none' for no scaling."""
    if name in (None, "none"):
        return None
    if name in ("standard", "standardize", "standardise", "zscore"):
        return Standardizer()
    if name in ("minmax", "min-max"):
        return MinMaxScaler()
    raise ValueError(f"unknown scaler {name!r}; use 'standard', 'minmax' or 'none'")
