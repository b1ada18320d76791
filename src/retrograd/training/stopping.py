"""Stopping rules: callbacks that end training (error goal, gradient norm, all correct, bit fail, time, early stopping)."""
import math
import time

import numpy as np

from .callbacks import Callback
from .inputs import real_number, whole_number
from .metrics import bit_fail


class StoppingRule(Callback):
    """A callback that may end training at epoch end; rules combine with OR (the first to fire wins).

    ``log_keys`` names the values a rule adds to the epoch's logs (and so to the History).
    """
    log_keys: tuple = ()

    def stop(self, reason):
        self.trainer.stop_training = True
        self.trainer.stop_reason = reason

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class MaxEpochs(StoppingRule):
    """Stop after ``epochs`` epochs (``fit(epochs=...)`` is the same rule)."""

    def __init__(self, epochs):
        self.epochs = whole_number(epochs, "MaxEpochs: epochs", 1)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.stop(f"max epochs: reached {self.epochs}")


class ErrorGoal(StoppingRule):
    """Stop when ``monitor`` (the epoch's training loss by default) is at or below ``goal``."""

    def __init__(self, goal, monitor="loss"):
        self.goal = real_number(goal, "ErrorGoal: goal")
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        value = logs.get(self.monitor)
        if value is not None and value <= self.goal:
            self.stop(f"error goal: {self.monitor} {value:.6g} <= {self.goal:.6g}")


class MinGradNorm(StoppingRule):
    """Stop when the 2-norm of the last computed gradient (all parameters together) falls below ``min_grad``.

    In batch mode that is the full-batch gradient; in mini-batch modes it is the
    last batch's gradient, which is noisy, so prefer it with ``mode='batch'``.
    """

    log_keys = ("grad_norm",)

    def __init__(self, min_grad):
        self.min_grad = real_number(min_grad, "MinGradNorm: min_grad", minimum=0.0)

    def on_epoch_end(self, epoch, logs=None):
        norm = self.trainer.grad_norm()
        logs["grad_norm"] = norm
        if norm < self.min_grad:
            self.stop(f"minimum gradient: norm {norm:.6g} < {self.min_grad:.6g}")


class AllCorrect(StoppingRule):
    """Stop when every training example is classified correctly (argmax, or ``> threshold`` for one output)."""

    def __init__(self, threshold=0.5):
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        from .metrics import accuracy
        acc = accuracy(*self.trainer.train_pairs(), self.threshold)
        if acc == 1.0:
            self.stop("all training examples classified correctly")


class BitFail(StoppingRule):
    """FANN's rule: stop when at most ``max_fail`` output values are off their target by more than ``limit``."""

    log_keys = ("bit_fail",)

    def __init__(self, limit=0.35, max_fail=0):
        self.limit = real_number(limit, "BitFail: limit", minimum=0.0)
        self.max_fail = whole_number(max_fail, "BitFail: max_fail", 0)

    def on_epoch_end(self, epoch, logs=None):
        fails = bit_fail(*self.trainer.train_pairs(), self.limit)
        logs["bit_fail"] = fails
        if fails <= self.max_fail:
            self.stop(f"bit fail: {fails} outputs off by more than {self.limit} (allowed {self.max_fail})")


class TimeLimit(StoppingRule):
    """Stop at the end of the first epoch that finishes more than ``seconds`` after training began."""

    def __init__(self, seconds):
        self.seconds = real_number(seconds, "TimeLimit: seconds", above=0.0)
        self._t0 = None

    def on_train_begin(self, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._t0
        if elapsed > self.seconds:
            self.stop(f"time limit: {elapsed:.3g} s > {self.seconds:.3g} s")


class EarlyStopping(StoppingRule):
    """Stop when ``monitor`` (``val_loss``) has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best`` the model gets back the weights of its best epoch
    when training ends (for whatever reason).
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True):
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a log name such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.patience = whole_number(patience, "EarlyStopping: patience", 0)
        self.min_delta = real_number(min_delta, "EarlyStopping: min_delta", minimum=0.0)
        self.restore_best = restore_best
        self.best = math.inf
        self.best_epoch = None
        self.wait = 0
        self._best_weights = None

    def on_train_begin(self, logs=None):
        if self.monitor.startswith("val_") and not self.trainer.has_validation:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but fit() got no validation "
                             "data: pass validation_data=(X, y) or validation_split=0.1")

    def on_epoch_end(self, epoch, logs=None):
        value = logs.get(self.monitor)
        if value is None:
            return
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best:
                self._best_weights = self.trainer.snapshot()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stop(f"early stopping: {self.monitor} has not improved for {self.patience} epochs "
                      f"(best {self.best:.6g} at epoch {self.best_epoch + 1})")

    def on_train_end(self, logs=None):
        if self.restore_best and self._best_weights is not None:
            self.trainer.restore(self._best_weights)

    def state_dict(self):
        state = {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}
        if self._best_weights is not None:
            state["arrays"] = {f"best.{i}": a for i, a in enumerate(self._best_weights)}
        return state

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        arrays = state.get("arrays") or {}
        if arrays:
            self._best_weights = [np.array(arrays[f"best.{i}"]) for i in range(len(arrays))]


RULES = {"epochs": MaxEpochs, "max_epochs": MaxEpochs, "goal": ErrorGoal, "min_grad": MinGradNorm,
         "all_correct": AllCorrect, "bit_fail": BitFail, "time": TimeLimit, "time_limit": TimeLimit,
         "patience": EarlyStopping, "early_stopping": EarlyStopping}


def _rule_from(name, value):
    cls = RULES.get(name)
    if cls is None:
        raise ValueError(f"unknown stopping rule {name!r}; known: {sorted(RULES)}")
    if isinstance(value, dict):
        return cls(**value)
    if value is True:
        return cls()
    if cls is EarlyStopping:
        return cls(patience=value)
    if cls is BitFail and isinstance(value, (tuple, list)):
        return cls(*value)
    return cls(value)


def get_stopping_rules(stop):
    """Rules from ``stop``: None, a rule, a name, a list of those, or a dict such as
    ``{"goal": 1e-3, "min_grad": 1e-6, "time": 60, "patience": 10, "all_correct": True,
    "bit_fail": (0.35, 0)}``."""
    if stop is None:
        return []
    if isinstance(stop, dict):
        return [_rule_from(k, v) for k, v in stop.items()]
    if isinstance(stop, str):
        return [_rule_from(stop, True)]
    if isinstance(stop, Callback):
        return [stop]
    rules = []
    for item in stop:
        rules.extend(get_stopping_rules(item))
    return rules
