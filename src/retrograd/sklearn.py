"""scikit-learn estimators (MLPClassifier, MLPRegressor) that train retrograd networks with rg.fit.

scikit-learn is imported when this module is, so ``import retrograd`` never
needs it: use ``from retrograd.sklearn import MLPClassifier``.
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import backend, nn, optim
from .autograd.tensor import GradMode, Tensor
from .training import fit as _fit


def _invalid(est, name, expected):
    """The error scikit-learn raises for a bad constructor argument, in its words."""
    value = getattr(est, name)
    return f"The {name!r} parameter of {type(est).__name__} must be {expected}. Got {value!r} instead."


def _is_whole(value, minimum):
    return (isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))
            and value >= minimum)


def _float_dtype(X):
    """float32 and float64 inputs keep their dtype; anything else trains in float64."""
    return X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)


class _BaseMLP(BaseEstimator):
    """Shared parameters and the fit/forward machinery of the two estimators."""

    def __init__(self, hidden_layer_sizes=(32,), activation="tanh", optimizer="lbfgs",
                 optimizer_params=None, loss=None, stop=None, mode="batch", batch_size=32,
                 epochs=30, random_state=0, verbose=False, device="cpu"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.loss = loss
        self.stop = stop
        self.mode = mode
        self.batch_size = batch_size
        self.epochs = epochs
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    def _validate_hyperparameters(self):
        """Check the constructor's arguments at fit, as scikit-learn estimators do (never in __init__).

        TypeError for a value of the wrong type, ValueError for one out of range; the optimizer's
        own hyperparameters (``optimizer_params``) are checked when it is built.
        """
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, (numbers.Integral, np.integer)) else sizes
        if (isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__")
                or not all(_is_whole(h, 1) for h in sizes)):
            raise ValueError(_invalid(self, "hidden_layer_sizes", "an int >= 1 or a sequence of them"))
        named = [("activation", nn.get_activation, nn.activation_names()),
                 ("optimizer", optim.get_class, optim.names()), ("loss", nn.get_loss, nn.loss_names())]
        for name, resolve, known in named:
            value = getattr(self, name)
            if value is None and name == "loss" or callable(value) and name != "optimizer":
                continue        # the default loss; a loss or activation module or function
            if not isinstance(value, str) and not (name == "optimizer" and isinstance(value, type)):
                raise TypeError(_invalid(self, name, f"a str among {known}"))
            if isinstance(value, str):
                try:
                    resolve(value)
                except ValueError:
                    raise ValueError(_invalid(self, name, f"a str among {known}")) from None
        if self.mode not in ("online", "batch", "minibatch"):
            raise ValueError(_invalid(self, "mode", "a str among ['batch', 'minibatch', 'online']"))
        if self.optimizer_params is not None and not isinstance(self.optimizer_params, dict):
            raise TypeError(_invalid(self, "optimizer_params", "None or a dict"))
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, (numbers.Real, np.number)) or isinstance(value, (bool, np.bool_)):
                raise TypeError(_invalid(self, name, "an int in the range [1, inf)"))
            if not _is_whole(value, 1):
                raise ValueError(_invalid(self, name, "an int in the range [1, inf)"))
        try:
            backend.parse_device(self.device)
        except ValueError:
            raise ValueError(_invalid(self, "device", "'cpu' or 'cuda' (or 'cuda:N')")) from None
        rs = self.random_state
        if not (rs is None or _is_whole(rs, 0) or isinstance(rs, (np.random.RandomState, np.random.Generator))):
            raise ValueError(_invalid(self, "random_state", "None, an int >= 0, a RandomState or a Generator"))

    def _build(self, n_in, n_out, dtype):
        seed = 0 if self.random_state is None else self.random_state
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(
            seed if isinstance(seed, (int, np.integer)) else seed.randint(2 ** 31))
        sizes = [n_in, *[int(h) for h in np.atleast_1d(self.hidden_layer_sizes)], n_out]
        layers = []
        for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fi, fo, dtype=dtype, generator=rng))
            if i < len(sizes) - 2:
                layers.append(nn.get_activation(self.activation))
        return nn.Sequential(*layers)

    def _train(self, X, T, default_loss):
        dtype = _float_dtype(X)
        X = X.astype(dtype, copy=False)
        self.model_ = self._build(X.shape[1], T.shape[1] if T.ndim == 2 else int(T.max()) + 1, dtype)
        params = dict(self.optimizer_params or {})
        if str(self.optimizer).lower() == "lbfgs":
            # Without a line search, L-BFGS's unit steps blow up once a separable problem's loss
            # nears zero; the strong Wolfe search keeps every step a decrease.
            params.setdefault("line_search_fn", "strong_wolfe")
        opt = optim.get(self.optimizer, self.model_.parameters(), **params)
        mode = self.mode
        if getattr(opt, "full_batch", False) and mode != "batch":
            mode = "batch"  # a full-batch method on mini-batches only adds noise to its model
        self.history_ = _fit(self.model_, self.loss or default_loss, opt, (X, T),
                             epochs=self.epochs, mode=mode, batch_size=self.batch_size,
                             stop=self.stop, seed=self.random_state if isinstance(
                                 self.random_state, (int, np.integer)) else 0,
                             quiet=not self.verbose, device=self.device)
        self.n_iter_ = self.history_.epochs
        self.loss_ = self.history_.last("loss")
        if self.history_.diverged:     # the History is not where a scikit-learn user looks
            warnings.warn(f"{type(self).__name__}: {self.history_.stop_reason}", ConvergenceWarning,
                          stacklevel=3)
        return self

    def _forward(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        X = X.astype(_float_dtype(X), copy=False)
        dtype = self.model_[0].weight.data.dtype
        saved = GradMode.enabled
        GradMode.enabled = False
        try:
            self.model_.eval()
            device = backend.device_of(self.model_[0].weight.data)   # the model stays where it trained
            x = backend.to_device(X.astype(dtype, copy=False), device)
            return backend.to_host(self.model_(Tensor._wrap(x)).data)
        finally:
            GradMode.enabled = saved

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier trained by backpropagation with ``rg.fit``.

    Parameters: ``hidden_layer_sizes`` (one int per hidden layer), ``activation``
    (any ``rg.nn.get_activation`` name), ``optimizer`` (any ``rg.optim.get``
    name, e.g. ``'adam'``, ``'sgd'``, ``'lbfgs'`` (the default, with a strong
    Wolfe line search), ``'rprop'``) with
    ``optimizer_params`` (dict, e.g. ``{"lr": 0.01}``), ``loss`` (default
    ``'cross_entropy'`` on logits), ``stop`` (stopping rules by name, e.g.
    ``{"goal": 1e-3}``), ``mode`` / ``batch_size`` / ``epochs`` as in
    ``rg.fit`` (full-batch optimizers always run in batch mode), and
    ``random_state`` (the seed of the initial weights and of the shuffle),
    ``device`` (``'cpu'``, or ``'cuda'`` to train on a GPU; predictions come
    back as NumPy arrays). float32 inputs train in float32, everything else in float64.
    """

    def fit(self, X, y):
        self._validate_hyperparameters()
        X, y = validate_data(self, X, y)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"MLPClassifier needs samples of at least 2 classes, got 1 class "
                             f"({self.classes_[0]!r})")
        return self._train(X, self._encoder.transform(y).astype(np.int64), "cross_entropy")

    def predict_proba(self, X):
        z = self._forward(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        z = self._forward(X)  # first: it raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(z, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor trained by backpropagation with ``rg.fit``.

    Same parameters as :class:`MLPClassifier`; the default loss is ``'mse'``
    and the output layer is linear. Multi-output targets (2-D y) work.
    """

    def fit(self, X, y):
        self._validate_hyperparameters()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        self._y_1d = y.ndim == 1
        T = y.reshape(-1, 1) if self._y_1d else y
        return self._train(X, T.astype(_float_dtype(X)), "mse")

    def predict(self, X):
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


from .sklearn_cascade import CascadeCorrelationClassifier, CascadeCorrelationRegressor  # noqa: E402,F401
