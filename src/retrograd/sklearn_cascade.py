"""scikit-learn estimators that grow cascade-correlation networks (CascadeCorrelationClassifier, ...Regressor).

Re-exported by ``retrograd.sklearn``; scikit-learn is imported when this module is.
"""
from typing import Any, Dict, Optional, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .autograd.tensor import GradMode, Tensor
from .training.cascade import CascadeCorrelation


def _seed(random_state: Any) -> Any:
    """An int or Generator for CascadeCorrelation from sklearn's random_state (None, int or RandomState)."""
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return 0 if random_state is None else int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2 ** 31))
    return random_state


class _BaseCascade(BaseEstimator):
    """The parameters and the training shared by both estimators."""

    def __init__(self, max_hidden: int = 30, n_candidates: int = 8,
                 candidate_activations: Sequence[str] = ("sigmoid_symmetric",),
                 output_phase: Optional[Dict[str, Any]] = None, candidate_phase: Optional[Dict[str, Any]] = None,
                 weight_range: float = 1.0, prime_offset: float = 0.1, random_state: Any = 0) -> None:
        self.max_hidden = max_hidden
        self.n_candidates = n_candidates
        self.candidate_activations = candidate_activations
        self.output_phase = output_phase
        self.candidate_phase = candidate_phase
        self.weight_range = weight_range
        self.prime_offset = prime_offset
        self.random_state = random_state

    def _grow(self, X: np.ndarray, T: np.ndarray, **settings: Any) -> "_BaseCascade":
        X = X.astype(np.float64)
        mean = X.mean(axis=0)
        scale = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        trainer = CascadeCorrelation(max_hidden=self.max_hidden, n_candidates=self.n_candidates,
                                     candidate_activations=self.candidate_activations,
                                     output_phase=self.output_phase, candidate_phase=self.candidate_phase,
                                     weight_range=self.weight_range, prime_offset=self.prime_offset,
                                     seed=_seed(self.random_state), **settings)
        # trained on standardised inputs (Fahlman's step sizes assume inputs of order 1), then the
        # scaling is folded into the weights, so model_ takes raw inputs like the estimator
        self.model_ = trainer.fit((X - mean) / scale, T)
        self.model_.absorb_input_scaling(mean, scale)
        self.n_hidden_units_ = self.model_.n_hidden
        self.history_ = trainer.history_
        self.n_iter_ = trainer.epochs_
        self.solved_ = trainer.solved_
        return self

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        saved = GradMode.enabled
        GradMode.enabled = False
        try:
            return self.model_(Tensor._wrap(np.asarray(X, dtype=np.float64))).data
        finally:
            GradMode.enabled = saved

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class CascadeCorrelationClassifier(ClassifierMixin, _BaseCascade):
    """A classifier whose network grows by cascade-correlation (Fahlman & Lebiere 1990).

    Two classes train one symmetric-sigmoid output (targets ±0.5), more
    classes one output per class (one-hot ±0.5). Growth stops when every
    training output is within ``score_threshold`` of its target, or after
    ``max_hidden`` units; ``n_hidden_units_`` says how many were grown and
    ``solved_`` whether the training set was learnt. The other parameters are
    those of ``rg.training.CascadeCorrelation`` (``candidate_activations``: unit
    kinds of the pool, e.g. ``('sigmoid_symmetric', 'gaussian')``; ``output_phase``
    and ``candidate_phase``: dicts of Quickprop/patience settings;
    ``random_state``: the seed of every initial weight). Inputs are
    standardised for training and the scaling folded into ``model_``'s weights,
    so ``model_`` takes raw inputs too.
    """

    def __init__(self, max_hidden: int = 30, n_candidates: int = 8,
                 candidate_activations: Sequence[str] = ("sigmoid_symmetric",),
                 output_phase: Optional[Dict[str, Any]] = None, candidate_phase: Optional[Dict[str, Any]] = None,
                 weight_range: float = 1.0, prime_offset: float = 0.1, score_threshold: float = 0.4,
                 random_state: Any = 0) -> None:
        super().__init__(max_hidden=max_hidden, n_candidates=n_candidates,
                         candidate_activations=candidate_activations, output_phase=output_phase,
                         candidate_phase=candidate_phase, weight_range=weight_range, prime_offset=prime_offset,
                         random_state=random_state)
        self.score_threshold = score_threshold

    def fit(self, X: Any, y: Any) -> "CascadeCorrelationClassifier":
        """Grow a network on ``X`` (n_samples, n_features) and class labels ``y``."""
        X, y = validate_data(self, X, y)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(f"CascadeCorrelationClassifier needs samples of at least 2 classes, got 1 class "
                             f"({self.classes_[0]!r})")
        codes = encoder.transform(y)
        if len(self.classes_) == 2:
            T = codes[:, None] - 0.5
        else:
            T = np.eye(len(self.classes_))[codes] - 0.5
        return self._grow(X, T, output_activation="sigmoid_symmetric", criterion="bits",
                          score_threshold=self.score_threshold)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities: the outputs moved to [0, 1] (σ itself), normalised over the classes."""
        s = np.clip(self._forward(X) + 0.5, 0.0, 1.0)
        if s.shape[1] == 1:
            return np.concatenate([1.0 - s, s], axis=1)
        total = s.sum(axis=1, keepdims=True)
        return np.where(total > 0, s / np.where(total > 0, total, 1.0), 1.0 / s.shape[1])

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest probability."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is looked up
        return self.classes_[np.argmax(proba, axis=1)]


class CascadeCorrelationRegressor(RegressorMixin, _BaseCascade):
    """A regressor whose network grows by cascade-correlation, with linear outputs.

    Targets are standardised for training (and the predictions mapped back);
    growth stops when the RMS error is at most ``error_index`` times the
    targets' standard deviation, or after ``max_hidden`` units. Multi-output
    targets (2-D y) work. Other parameters as ``CascadeCorrelationClassifier``.
    """

    def __init__(self, max_hidden: int = 30, n_candidates: int = 8,
                 candidate_activations: Sequence[str] = ("sigmoid_symmetric",),
                 output_phase: Optional[Dict[str, Any]] = None, candidate_phase: Optional[Dict[str, Any]] = None,
                 weight_range: float = 1.0, prime_offset: float = 0.1, error_index: float = 0.01,
                 random_state: Any = 0) -> None:
        super().__init__(max_hidden=max_hidden, n_candidates=n_candidates,
                         candidate_activations=candidate_activations, output_phase=output_phase,
                         candidate_phase=candidate_phase, weight_range=weight_range, prime_offset=prime_offset,
                         random_state=random_state)
        self.error_index = error_index

    def fit(self, X: Any, y: Any) -> "CascadeCorrelationRegressor":
        """Grow a network on ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, k)."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        self._y_1d = y.ndim == 1
        T = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self._y_mean = T.mean(axis=0)
        self._y_scale = np.where(T.std(axis=0) > 0, T.std(axis=0), 1.0)
        return self._grow(X, (T - self._y_mean) / self._y_scale, output_activation="identity",
                          criterion="index", error_index=self.error_index)

    def predict(self, X: Any) -> np.ndarray:
        """The network's outputs in the units of y."""
        out = self._forward(X) * self._y_scale + self._y_mean
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
