"""The fit loop: runs forward, backward and ``optimizer.step(closure)`` over batches and emits events."""
import math
import time
import warnings

import numpy as np

from ..autograd.tensor import GradMode, Tensor
from .bptt import TruncatedBPTT, bptt_closure, flatten_time
from .batching import ShuffleOrder, batch_bounds, batch_size_for, check_mode
from .callbacks import Callback, CallbackList
from .checkpoint import Checkpoint
from .device import Placement
from .compiled import compiled_step
from .divergence import DEFAULT_FACTOR, DivergenceGuard, constant_prediction_loss, reference_rows
from .history import History
from .inputs import (as_arrays, as_inputs, check_bptt, check_model_and_optimizer, split_validation,
                     whole_number)
from .metrics import get_metric
from .precision import mixed_precision
from .residuals import residual_function
from .stopping import get_stopping_rules
from .threads import blas_threads

EVAL_CHUNK = 4096  # rows per no-grad forward when evaluating, to bound memory


class FullBatchWarning(UserWarning):
    """A full-batch optimizer (L-BFGS, CG, LM, Rprop, ...) is being fed noisy mini-batches."""


class Trainer:
    """Trains ``model`` with ``optimizer`` on ``loss``; see :func:`fit` for the arguments.

    The trainer emits events to callbacks and never prints. Attributes that
    callbacks may read: ``model``, ``optimizer``, ``epoch``, ``history``,
    ``X_train``, ``y_train``, ``has_validation``, ``stop_training``,
    ``stop_reason``, ``diverged``, ``dtype`` (the parameters' dtype, which the
    data are cast to), ``guard`` (the divergence guard); helpers
    ``train_outputs()``, ``grad_norm()``, ``snapshot()`` / ``restore()``.
    """

    def __init__(self, model, loss, optimizer, *, mode="minibatch", batch_size=32, metrics=(),
                 callbacks=(), stop=None, scheduler=None, seed=0, shuffle=True, quiet=False,
                 nan_guard=True, progress=None, checkpoint=None, train_metrics=True,
                 blas_threads="auto", bptt=None, compile="auto", divergence_factor=DEFAULT_FACTOR,
                 precision=None, grad_scaler=None, device=None):
        if compile not in ("auto", True, False):
            raise ValueError(f"fit(): compile must be 'auto', True or False, got {compile!r}")
        self.placement = Placement.of(model, device)       # training/device.py: fit's device
        self.placement.place_model(model, optimizer)
        self.dtype = check_model_and_optimizer(model, optimizer)
        self.model = model
        self.loss_fn, self.loss_name = _resolve_loss(loss)
        self.optimizer = optimizer
        self.mode = check_mode(mode)
        self.batch_size = whole_number(batch_size, "fit(): batch_size", 1)
        self.metrics = [get_metric(m) for m in ([metrics] if isinstance(metrics, str) else metrics)]
        self.seed = seed
        self.shuffle = shuffle
        self.nan_guard = bool(nan_guard)
        self.guard = DivergenceGuard(divergence_factor)
        self.train_metrics = train_metrics
        self.blas_threads = _check_blas_threads(blas_threads)
        self.bptt = None
        if bptt is not None:
            self.bptt = TruncatedBPTT(*check_bptt(bptt))
        self.params = [p for p in model.parameters()]
        self.closure_kind = getattr(optimizer, "closure_kind", "loss")
        # mixed precision (training/precision.py): its own step; the replayed step is full precision only
        self.precision = mixed_precision(precision, grad_scaler, model, self.loss_fn, optimizer, self.dtype,
                                         self.bptt)
        self.compiled = None
        if compile and self.closure_kind == "loss" and self.bptt is None and self.precision is None:
            self.compiled = compiled_step(model, self.loss_fn, self.params, compile is True)
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.stop_reason = None
        self.diverged = False
        # Order matters at epoch end: rules add their values to the logs, the history records
        # them, then user callbacks, the schedule and the progress display see the finished
        # epoch, and the checkpoints (moved last below) save all of it.
        self._cbs = get_stopping_rules(stop) + [_Recorder()] + _callback_list(callbacks)
        if scheduler is not None:
            from .schedule import LRScheduler
            self._cbs.append(scheduler if isinstance(scheduler, LRScheduler) else LRScheduler(scheduler))
        if checkpoint is not None:
            self._cbs.append(checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(checkpoint))
        # Checkpoints go after every other callback, so they save the state at the true end of
        # the epoch (the schedule already stepped, early-stopping counters updated).
        if not quiet:
            from .progress import ProgressBar
            self._cbs.append(progress if progress is not None else ProgressBar())
        self._cbs = ([c for c in self._cbs if not isinstance(c, Checkpoint)]
                     + [c for c in self._cbs if isinstance(c, Checkpoint)])

    # ------------------------------------------------------------------ fit
    def fit(self, train_data, *, epochs=100, validation_data=None, validation_split=0.0,
            resume=None):
        """Train for up to ``epochs`` epochs (or until a stopping rule fires); returns the History."""
        self.epochs = whole_number(epochs, "fit(): epochs", 0)
        X, y = as_arrays(train_data, self.dtype, "train_data", self._takes_indices())
        X, y, validation_data = split_validation(X, y, validation_data, validation_split)
        self.X_train, self.y_train = X, y
        self.val = None if validation_data is None else as_arrays(validation_data, self.dtype,
                                                                  "validation_data", self._takes_indices())
        self._Xd, self._yd = self.placement.data(X, y)     # on the device, whole if they fit there
        if self.val is not None:
            self.val = self.placement.data(*self.val, training=False)
        self.has_validation = self.val is not None
        if self.bptt is not None:
            for Xs, ys in [(X, y)] + ([self.val] if self.val is not None else []):
                self.bptt.check_shapes(Xs, ys)
        n = len(X)
        size = batch_size_for(self.mode, self.batch_size, n)
        if getattr(self.optimizer, "full_batch", False) and size < n:
            warnings.warn(f"{type(self.optimizer).__name__} is a full-batch method (it assumes the same "
                          f"function every step) but mode={self.mode!r} feeds it batches of {size} "
                          f"of {n} examples: its line searches and curvature estimates will be misled "
                          "by the noise; use mode='batch'", FullBatchWarning, stacklevel=3)
        self.order = ShuffleOrder(self.shuffle if self.mode != "batch" else False, self.seed, n)
        self.bounds = batch_bounds(n, size)
        self.callbacks = CallbackList(self._cbs, self)
        if resume is not None:
            from .checkpoint import load_checkpoint
            load_checkpoint(self, resume)
        self.history.declare(self._logged_keys())
        if self.nan_guard:
            _check_finite_weights(self.model)
            self.guard.start(self.params, self.epoch)
        self._t0 = time.perf_counter() - (self.history.last("time") or 0.0)
        self.callbacks.fire("on_train_begin", {})
        n_params = sum(p.data.size for p in self.params)
        with blas_threads(self.blas_threads, size, n_params):
            if self.nan_guard and self.guard.factor is not None and self.guard.reference is None:
                rows = reference_rows(n)
                out, target = self._outputs(X[rows]), self.placement.batch(y[rows])
                self.guard.set_reference(self._loss_value(out, target),
                                         constant_prediction_loss(self._loss_value, out, target))
            while self.epoch < self.epochs and not self.stop_training:
                self._run_epoch()
        if not self.stop_training:
            self.stop_reason = f"max epochs: reached {self.epochs}"
        self.history.stop_reason = self.stop_reason
        self.history.stopped_epoch = self.epoch
        self.history.diverged = self.diverged
        self.callbacks.fire("on_train_end", {"stop_reason": self.stop_reason})
        return self.history

    def _run_epoch(self):
        epoch = self.epoch
        self.callbacks.fire("on_epoch_begin", epoch, {})
        self._train_out = None
        self.model.train()
        lr = self._current_lr()  # the rate the epoch starts with (per-batch schedules move it)
        perm = self.order.for_epoch(epoch)
        loss_sum = self._run_batches(perm)
        if loss_sum is None:
            return  # the NaN guard stopped training
        logs = {"epoch": epoch, "loss": loss_sum / len(self.X_train)}
        if self.nan_guard and self.guard.exploded(logs["loss"]):
            before = self.history.last("loss")
            self._diverge(f"the loss exploded: {before:.4g} in epoch {epoch} and {logs['loss']:.4g} in "
                          f"epoch {epoch + 1}, more than {self.guard.factor:g} times "
                          f"{self.guard.reference_is} ({self.guard.reference:.4g})", epoch)
            return
        self._evaluate(logs)
        if lr is not None:
            logs["lr"] = lr
        if not self._guard_weights(epoch, logs["loss"]):
            return
        logs["time"] = time.perf_counter() - self._t0
        self.epoch = epoch + 1
        self.callbacks.fire("on_epoch_end", epoch, logs)

    def _run_batches(self, perm):
        """One pass over the batches; returns the size-weighted sum of batch losses (None on NaN)."""
        X, y = self._Xd, self._yd
        if perm is not None:
            perm = self.placement.order(perm)
            X, y = X[perm], y[perm]  # one gather per epoch; the batches below are then views
        step = self.optimizer.step
        closure = {"residuals": self._residual_closure,
                   "per_example": self._per_example_closure}.get(self.closure_kind, self._loss_closure)
        events = self.callbacks.wants_batch_events
        fire = self.callbacks.fire
        wrap = Tensor._wrap
        batch = self.placement.batch
        isfinite = math.isfinite
        if self.bptt is not None:
            return self._run_bptt_batches(X, y)
        if self.precision is not None:
            step, closure = self.precision.step, self._precision_closure
        total = 0.0
        for b, (s, e) in enumerate(self.bounds):
            self._xb = wrap(batch(X[s:e]))
            self._yb = wrap(batch(y[s:e]))
            if events:
                fire("on_batch_begin", b, {"batch": b, "size": e - s})
            value = step(closure)                 # residual methods return the data loss where the step began
            value = float(value if value is not None else self._last_loss)
            if b == 0:
                self.guard.first_loss(value)    # the loss at the weights the last epoch ended with
            if not isfinite(value):
                self._nan_stop(f"batch {b + 1}")
                return None
            total += value * (e - s)
            if events:
                fire("on_batch_end", b, {"batch": b, "size": e - s, "loss": value})
        return total

    def _run_bptt_batches(self, X, y):
        """Batches of whole sequences, each cut into TBPTT updates; the loss is per time step."""
        total, count = 0.0, 0
        events = self.callbacks.wants_batch_events
        for b, (s, e) in enumerate(self.bounds):
            if events:
                self.callbacks.fire("on_batch_begin", b, {"batch": b, "size": e - s})
            part, n = self.bptt.run_batch(self, self.placement.batch(X[s:e]), self.placement.batch(y[s:e]))
            if b == 0:
                self.guard.first_loss(part / n)
            if not math.isfinite(part):
                self._nan_stop(f"batch {b + 1}")
                return None
            total += part
            count += n
            if events:
                self.callbacks.fire("on_batch_end", b, {"batch": b, "size": e - s, "loss": part / n})
        return total / count * len(X)   # the caller divides by the number of sequences

    def _bptt_closure(self):
        return bptt_closure(self)

    def _precision_closure(self):
        return self.precision.closure(self._xb, self._yb)()

    def _loss_closure(self):
        self.optimizer.zero_grad()
        if self.compiled is not None:
            self._last_loss = loss = self.compiled(self._xb, self._yb)
            return loss
        loss = self.loss_fn(self.model(self._xb), self._yb)
        loss.backward()
        self._last_loss = loss.data
        return loss

    def _residual_closure(self):
        # LM and Bayesian regularisation build the Jacobian themselves: return r, not backpropagated.
        r = self._residuals(self.model(self._xb), self._yb)
        self._last_loss = 0.5 * float(np.sum(r.data * r.data))
        # Not the epoch's loss: LM evaluates trial points here (and takes the Jacobian at an accepted
        # one from that evaluation, so a step may start without a call); step() returns the data loss
        # where it began (Bayesian regularisation too, not its objective beta*E_D + alpha*E_W).
        return r

    def _per_example_closure(self, params):
        # per-example clipping (optim/private.py) needs each example's own gradient
        from .per_example import batch_per_example_grads
        return batch_per_example_grads(self, params)

    @property
    def _residuals(self):
        fn = getattr(self, "_residual_fn", None)
        if fn is None:
            fn = self._residual_fn = residual_function(self.loss_fn, self.loss_name)
        return fn

    # ------------------------------------------------------------------ evaluation
    def predict(self, X):
        """Model outputs on ``X`` as an array, in eval mode, without recording a graph.

        ``X`` is checked and cast to the parameters' dtype by the rule of ``fit``'s data
        (``retrograd.training.inputs``): real numbers only, no NaN or Inf.
        """
        out = self._outputs(as_inputs(X, self.dtype, "predict(): X", self._takes_indices()))
        return self.placement.host(out)

    def _outputs(self, X):
        """Model outputs on ``X`` (already checked and cast), in chunks of ``EVAL_CHUNK`` rows."""
        was_training = getattr(self.model, "training", True)
        self.model.eval()
        saved = GradMode.enabled
        GradMode.enabled = False
        try:
            outs = [self._forward(Tensor._wrap(self.placement.batch(X[s:s + EVAL_CHUNK]))).data
                    for s in range(0, len(X), EVAL_CHUNK)]
        finally:
            GradMode.enabled = saved
            self.model.train(was_training)
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def _forward(self, x):
        if self.bptt is not None:   # recurrent protocol: whole sequences from a fresh state
            return self.model(x, None)[0]
        if self.precision is not None:
            return self.precision.forward(x)
        return self.model(x)

    def _loss_value(self, out, y):
        if self.bptt is not None:
            out, y = flatten_time(out, y)
        saved = GradMode.enabled
        GradMode.enabled = False
        try:
            return float(self.loss_fn(Tensor._wrap(out), Tensor._wrap(y)).data)
        finally:
            GradMode.enabled = saved

    def train_outputs(self):
        """Outputs on the whole training set after this epoch's updates (computed once per epoch)."""
        if self._train_out is None:
            self._train_out = self.placement.host(self._outputs(self._Xd))
        return self._train_out

    def train_pairs(self):
        """(outputs, targets) on the training set, one row per example (per time step with bptt)."""
        return self._per_step(self.train_outputs(), self.y_train)

    def _evaluate(self, logs):
        if self.metrics and self.train_metrics:
            out, y = self._per_step(self.train_outputs(), self.y_train)
            for name, fn in self.metrics:
                logs[name] = fn(out, y)
        if self.val is not None:
            Xv, yv = self.val
            out = self._outputs(Xv)
            logs["val_loss"] = self._loss_value(out, self.placement.batch(yv))
            out, yv = self._per_step(self.placement.host(out), self.placement.host(yv))
            for name, fn in self.metrics:
                logs["val_" + name] = fn(out, yv)

    def _per_step(self, out, y):
        """Sequence outputs count one example per time step for metrics."""
        return flatten_time(out, y) if self.bptt is not None else (out, y)

    def _current_lr(self):
        groups = getattr(self.optimizer, "param_groups", None)
        if groups and "lr" in groups[0]:
            return float(groups[0]["lr"])
        return None

    # ------------------------------------------------------------------ weights
    def grad_norm(self):
        """2-norm over all parameters of their current ``.grad`` (0 where none)."""
        sq = 0.0
        for p in self.params:
            if p.grad is not None:
                g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
                sq += float(np.vdot(g, g))
        return math.sqrt(sq)

    def snapshot(self):
        """Copies of the parameter arrays."""
        return [p.data.copy() for p in self.params]

    def restore(self, snapshot):
        """Write a snapshot back in place (the optimizer keeps its references to the parameters)."""
        for p, a in zip(self.params, snapshot):
            p.data[...] = a

    def _guard_weights(self, epoch, loss):
        """Keep a copy of finite weights each epoch; on Inf/NaN weights restore good ones and stop."""
        if not self.nan_guard:
            return True
        if all(np.isfinite(p.data).all() for p in self.params):
            self.guard.end_epoch(self.params, epoch + 1, loss)
            return True
        self._nan_stop("the end of the epoch (weights)", epoch)
        return False

    def _nan_stop(self, where, epoch=None):
        epoch = self.epoch if epoch is None else epoch
        if not self.nan_guard:
            raise FloatingPointError(f"fit(): non-finite loss at epoch {epoch + 1}, {where}; "
                                     "lower the learning rate or enable nan_guard")
        self._diverge(f"non-finite loss or weights at epoch {epoch + 1}, {where}", epoch, during_epoch=True)

    def _diverge(self, what, epoch, during_epoch=False):
        """Restore the last good weights and stop, saying what happened and what to try."""
        self.guard.restore(self.params, during_epoch)
        self.epoch = epoch
        self.diverged = True
        self.stop_training = True
        self.stop_reason = self.guard.explain(what, self._current_lr())

    def _takes_indices(self):
        """True when the model looks its inputs up in an Embedding: integer X must stay integer."""
        from ..nn.layers import Embedding
        modules = self.model.modules() if hasattr(self.model, "modules") else ()
        return any(isinstance(m, Embedding) for m in modules)

    def _logged_keys(self):
        """Every key an epoch's logs will hold, so that the History has them all from the start
        (a run that diverges in its first epoch still has ``history["loss"]``, empty)."""
        names = [name for name, _ in self.metrics]
        keys = ["loss"] + (names if self.train_metrics else [])
        if self.has_validation:
            keys += ["val_loss"] + ["val_" + name for name in names]
        if self._current_lr() is not None:
            keys.append("lr")
        keys.append("time")
        for cb in self._cbs:
            keys.extend(getattr(cb, "log_keys", ()))
        return keys

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self):
        """Everything a resume needs besides the model and the optimizer: epoch, order, history."""
        state = {"epoch": self.epoch, "order": self.order.state_dict(),
                 "history": self.history.to_json(), "divergence": self.guard.state_dict()}
        if self.precision is not None:
            state["precision"] = self.precision.state_dict()
        return state

    def load_state_dict(self, state):
        self.epoch = int(state["epoch"])
        self.order.load_state_dict(state.get("order", {}))
        self.history = History.from_json(state["history"])
        self.guard.load_state_dict(state.get("divergence", {}))
        if self.precision is not None:
            self.precision.load_state_dict(state.get("precision", {}))


class _Recorder(Callback):
    """Appends each epoch's logs to the trainer's History."""

    def on_epoch_end(self, epoch, logs=None):
        self.trainer.history.record(logs)


def _resolve_loss(loss):
    """(callable, name) from a loss module, function or registry name."""
    if isinstance(loss, str):
        from .. import nn
        return nn.get_loss(loss), loss
    if not callable(loss):
        raise TypeError(f"fit(): loss must be a loss module, a function or a name such as "
                        f"'cross_entropy', got {type(loss).__name__}")
    return loss, getattr(loss, "name", None) or type(loss).__name__


def _callback_list(callbacks):
    """Callbacks as a list: one callback alone is accepted too."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or hasattr(callbacks, "set_trainer"):
        return [callbacks]
    try:
        return list(callbacks)
    except TypeError:
        raise TypeError(f"fit(): callbacks must be a list of Callback objects, got "
                        f"{type(callbacks).__name__}") from None


def _check_blas_threads(setting):
    """'auto', None or a whole number of threads >= 1."""
    if setting is None or (isinstance(setting, str) and setting == "auto"):
        return setting
    return whole_number(setting, "fit(): blas_threads ('auto', None or a thread count)", 1)


def _check_finite_weights(model):
    """Training from NaN or Inf weights cannot work, and there would be no good weights to go back to."""
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            raise ValueError(f"fit(): the model's parameter {name!r} holds NaN or Inf before training "
                             "(a diverged or corrupted model); re-initialise or reload it")
