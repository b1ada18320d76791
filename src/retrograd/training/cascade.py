"""Cascade-correlation (Fahlman & Lebiere 1990): grow a CascadeNetwork one frozen hidden unit at a time.

The two phases alternate until every output is right (or the unit budget is spent):

- **output phase**: only the output weights learn, by Quickprop on the
  squared error, with Fahlman's sigmoid-prime offset on sigmoid outputs:
  ``E_po = (y_po − t_po) (f'(net_po) + offset)``, slope ``Σ_p E_po h_pi``;
- **candidate phase**: a pool of candidate units, each fed by the inputs and
  every installed unit, learn by Quickprop to maximise

      S = Σ_o | Σ_p (V_p − V̄)(E_po − Ē_o) | / Σ_po E_po²,
      ∂S/∂w_i = Σ_p Σ_o σ_o (E_po − Ē_o) f'_p h_pi / Σ E²     (σ_o = sign of output o's covariance)

  and the best one is installed with its input weights frozen, its output
  weights starting at −(its covariance) (Fahlman's initial guess).

Both phases stop on Fahlman's patience rule: once the watched value (the
error, or the best candidate's score) has not moved by ``change_threshold``
of itself for ``patience`` epochs, or after ``max_epochs``. The defaults are
those of Fahlman's reference C code (cascor1.c): outputs ε 0.35 (divided by
the number of patterns), μ 2, decay 1e-4, patience 8, threshold 1 %;
candidates ε 1.0 (divided by patterns × fan-in), μ 2, patience 8, threshold
3 %; 8 candidates; weights drawn from ±1; prime offset 0.1; a pattern counts
as right when every output is within 0.4 of its target.

The update is ``rg.optim.Quickprop`` unchanged (Fahlman's rule, as in his C code):
the trainer computes the slopes itself from cached unit values, as his code
does, so no graph is built; the grown network is an ordinary ``rg.nn`` module.
"""
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.cascade import UNIT_KINDS, CascadeNetwork, unit_kind
from ..nn.module import Parameter
from ..optim.quickprop import Quickprop
from .callbacks import CallbackList
from .history import History


@dataclass(frozen=True)
class Phase:
    """Quickprop settings and the patience rule of one phase.

    ``epsilon`` is Fahlman's learning rate before scaling (outputs: divided by
    the number of patterns; candidates: by patterns × fan-in), ``mu`` the
    growth limit, ``decay`` the weight decay added to the slope. The phase
    stops when the watched value has not changed by ``change_threshold`` of
    itself for ``patience`` epochs (``patience=0``: never on stagnation), or
    after ``max_epochs``.
    """
    epsilon: float
    mu: float = 2.0
    decay: float = 0.0
    patience: int = 8
    change_threshold: float = 0.01
    max_epochs: int = 500


OUTPUT_PHASE = Phase(epsilon=0.35, mu=2.0, decay=1e-4, patience=8, change_threshold=0.01, max_epochs=500)
CANDIDATE_PHASE = Phase(epsilon=1.0, mu=2.0, decay=0.0, patience=8, change_threshold=0.03, max_epochs=500)


def _phase(value: Union[None, Phase, Dict[str, Any]], default: Phase, name: str) -> Phase:
    """A Phase from None (the default), a Phase, or a dict of fields overriding the default."""
    if value is None:
        return default
    if isinstance(value, Phase):
        phase = value
    elif isinstance(value, dict):
        known = {f.name for f in fields(Phase)}
        unknown = set(value) - known
        if unknown:
            raise TypeError(f"CascadeCorrelation: unknown {name} setting(s) {sorted(unknown)}; known: {sorted(known)}")
        phase = replace(default, **value)
    else:
        raise TypeError(f"CascadeCorrelation: {name} must be a dict or a Phase, got {type(value).__name__}")
    if not (phase.epsilon > 0 and phase.mu > 0 and phase.decay >= 0 and phase.change_threshold >= 0):
        raise ValueError(f"CascadeCorrelation: {name} needs epsilon > 0, mu > 0, decay >= 0 and "
                         f"change_threshold >= 0, got {phase}")
    if int(phase.patience) < 0 or int(phase.max_epochs) < 1:
        raise ValueError(f"CascadeCorrelation: {name} needs patience >= 0 and max_epochs >= 1, got {phase}")
    return phase


class _Patience:
    """Fahlman's stopping rule: True once ``value`` has stayed within ``threshold`` of itself for ``patience`` epochs."""

    def __init__(self, patience: int, threshold: float, quit_at: int) -> None:
        self.patience, self.threshold, self.quit_at = int(patience), threshold, quit_at
        self.last: Optional[float] = None

    def stagnant(self, value: float, epoch: int) -> bool:
        if self.patience == 0:
            return False
        if self.last is None:
            self.last = value
        elif abs(value - self.last) > self.last * self.threshold:
            self.last = value
            self.quit_at = epoch + self.patience
        elif epoch >= self.quit_at:
            return True
        return False


class _QuickpropArray:
    """``rg.optim.Quickprop`` over one weight array whose slope the trainer computes itself."""

    def __init__(self, weights: np.ndarray, phase: Phase, lr: float, state: Optional[dict] = None) -> None:
        self.param = Parameter(weights)
        self.opt = Quickprop([self.param], lr=lr, mu=phase.mu, decay=phase.decay)
        if state is not None:
            self.opt.load_state_dict(state)

    @property
    def weights(self) -> np.ndarray:
        return self.param.data

    def step(self, slope: np.ndarray) -> None:
        self.param.grad = Tensor._wrap(slope)
        self.opt.step()

    def widened(self, column: np.ndarray, phase: Phase, lr: float) -> "_QuickpropArray":
        """A copy with one more column of weights; old columns keep their Quickprop memory, the new one starts fresh."""
        state = self.opt.state_dict()
        for key, arr in state["state"].get(0, {}).items():
            state["state"][0][key] = np.concatenate([arr, np.zeros((arr.shape[0], 1))], axis=1)
        state["param_groups"][0]["lr"] = lr
        return _QuickpropArray(np.concatenate([self.weights, column[:, None]], axis=1), phase, lr, state)


class CascadeCorrelation:
    """The cascade-correlation learning architecture (Fahlman & Lebiere 1990) as a model-building trainer.

    ``fit(X, T)`` grows and returns an ``rg.nn.CascadeNetwork``; the record is in
    ``history_`` (one entry per epoch of either phase: ``loss`` = mean squared
    error, ``bit_fail``, ``n_hidden``, ``score`` of the best candidate (None in
    output epochs), ``time``), ``units_`` (one dict per installed unit), ``epochs_``, ``solved_``
    and ``stop_reason_``.

    - ``max_hidden``: the most hidden units to install.
    - ``n_candidates``: the candidate pool; ``candidate_activations`` lists unit
      kinds (``'sigmoid_symmetric'``, ``'sigmoid'``, ``'tanh'``, ``'gaussian'``),
      assigned to the candidates in turn, so a mixed pool is ``('sigmoid_symmetric', 'gaussian')``.
    - ``output_activation``: ``'sigmoid_symmetric'`` (targets ±0.5, Fahlman's choice for
      binary problems), ``'sigmoid'`` (0/1), ``'tanh'`` (±1) or ``'identity'`` (regression).
    - ``criterion``: ``'bits'`` (done when every output is within ``score_threshold``
      of its target) or ``'index'`` (done when the RMS error divided by the targets'
      standard deviation is at most ``error_index``); default: bits for sigmoid
      outputs, index for linear ones.
    - ``output_phase`` / ``candidate_phase``: dicts of ``Phase`` fields overriding
      ``OUTPUT_PHASE`` / ``CANDIDATE_PHASE``.
    - ``weight_range``: initial weights are uniform in ±this; ``weight_multiplier``
      scales a new unit's initial output weights; ``prime_offset`` is added to the
      derivative of sigmoid outputs (Fahlman's flat-spot fix; 0 turns it off).
    - ``max_epochs``: an overall budget of epochs (both phases), None for none.
    - ``seed``: the generator of every initial weight; ``callbacks``: ``rg.training``
      callbacks (``on_train_begin``, ``on_epoch_end`` with ``logs['phase']`` set to
      ``'output'`` or ``'candidates'``, ``on_train_end``; ``trainer.model`` is the
      network being grown; set ``trainer.stop_training = True`` to stop).
    """

    def __init__(self, *, max_hidden: int = 50, n_candidates: int = 8,
                 candidate_activations: Sequence[str] = ("sigmoid_symmetric",),
                 output_activation: str = "sigmoid_symmetric", criterion: Optional[str] = None,
                 score_threshold: float = 0.4, error_index: float = 0.01,
                 output_phase: Union[None, Phase, Dict[str, Any]] = None,
                 candidate_phase: Union[None, Phase, Dict[str, Any]] = None,
                 weight_range: float = 1.0, weight_multiplier: float = 1.0, prime_offset: float = 0.1,
                 max_epochs: Optional[int] = None, seed: Union[int, np.random.Generator, None] = 0,
                 callbacks: Sequence[Any] = ()) -> None:
        if int(max_hidden) != max_hidden or max_hidden < 0:
            raise ValueError(f"CascadeCorrelation: max_hidden must be an integer >= 0, got {max_hidden!r}")
        if int(n_candidates) != n_candidates or n_candidates < 1:
            raise ValueError(f"CascadeCorrelation: n_candidates must be an integer >= 1, got {n_candidates!r}")
        if isinstance(candidate_activations, str):
            candidate_activations = (candidate_activations,)
        self.candidate_activations = [unit_kind(k, hidden=True) for k in candidate_activations]
        if not self.candidate_activations:
            raise ValueError("CascadeCorrelation: candidate_activations is empty; give at least one unit kind")
        self.output_activation = unit_kind(output_activation)
        if criterion is None:
            criterion = "bits" if UNIT_KINDS[self.output_activation].sigmoidal else "index"
        if criterion not in ("bits", "index"):
            raise ValueError(f"CascadeCorrelation: criterion must be 'bits' or 'index', got {criterion!r}")
        for name, v in (("score_threshold", score_threshold), ("error_index", error_index),
                        ("weight_range", weight_range)):
            if not v > 0:
                raise ValueError(f"CascadeCorrelation: {name} must be > 0, got {v!r}")
        if not prime_offset >= 0:
            raise ValueError(f"CascadeCorrelation: prime_offset must be >= 0, got {prime_offset!r}")
        self.max_hidden, self.n_candidates = int(max_hidden), int(n_candidates)
        self.criterion, self.score_threshold, self.error_index = criterion, score_threshold, error_index
        self.output_phase = _phase(output_phase, OUTPUT_PHASE, "output_phase")
        self.candidate_phase = _phase(candidate_phase, CANDIDATE_PHASE, "candidate_phase")
        self.weight_range, self.weight_multiplier = float(weight_range), float(weight_multiplier)
        self.prime_offset = float(prime_offset)
        if max_epochs is not None and (int(max_epochs) != max_epochs or max_epochs < 1):
            raise ValueError(f"CascadeCorrelation: max_epochs must be None or an integer >= 1, got {max_epochs!r}")
        self.max_epochs = None if max_epochs is None else int(max_epochs)
        self.seed, self.callbacks = seed, list(callbacks)
        self.stop_training: bool = False
        self.stop_reason: Optional[str] = None

    # ------------------------------------------------------------------ driver
    def fit(self, X: np.ndarray, T: np.ndarray, model: Optional[CascadeNetwork] = None) -> CascadeNetwork:
        """Grow a network on inputs ``X`` (N, n_in) and targets ``T`` (N, n_out) or (N,); returns it.

        Targets are in the output activation's range (±0.5 for the symmetric
        sigmoid). ``model`` continues growing an existing network (its units
        stay frozen; its output weights are retrained).
        """
        X, T = _check_data(X, T)
        self._rng = self.seed if isinstance(self.seed, np.random.Generator) else np.random.default_rng(self.seed)
        n, n_in = X.shape
        if model is None:
            model = CascadeNetwork(n_in, T.shape[1], output=self.output_activation, dtype=np.float64)
            w = self._rng.uniform(-self.weight_range, self.weight_range, size=(T.shape[1], n_in + 1))
        else:
            if (model.n_inputs, model.n_outputs) != (n_in, T.shape[1]):
                raise ValueError(f"CascadeCorrelation.fit: model has {model.n_inputs} inputs and {model.n_outputs} "
                                 f"outputs, the data {n_in} and {T.shape[1]}")
            w = np.concatenate([model.output.bias.data[:, None], model.output.weight.data.T], axis=1)
        self.model_ = self.model = model          # ``model``: the name rg.fit's callbacks use
        self._out_kind = UNIT_KINDS[model.output_activation]
        self._target_std = float(np.std(T)) or 1.0
        H = np.concatenate([np.ones((n, 1)), X, _unit_values(model, X)], axis=1)   # the cache: bias, inputs, units
        out = _QuickpropArray(w.astype(np.float64), self.output_phase, self.output_phase.epsilon / n)
        self.history_, self.epochs_ = History(), 0
        self.units_: List[Dict[str, Any]] = []
        self.stop_training, self.stop_reason, self.solved_ = False, None, False
        self._t0 = time.perf_counter()
        self._cbs = CallbackList(self.callbacks, self)
        self._cbs.fire("on_train_begin", {})
        while True:
            won = self._train_outputs(H, T, out)
            if won:
                self.solved_, self.stop_reason = True, "solved"
            elif self.stop_training:
                self.stop_reason = self.stop_reason or "stopped by a callback"
            elif model.n_hidden >= self.max_hidden:
                self.stop_reason = f"max_hidden={self.max_hidden} units"
            if self.stop_reason is not None:
                break
            grown = self._train_candidates(H, T, out.weights)
            if grown is None:                         # stopped while the pool trained: nothing installed
                continue
            column, out_w = grown
            H = np.concatenate([H, column[:, None]], axis=1)
            out = out.widened(out_w, self.output_phase, self.output_phase.epsilon / n)
        model.set_output_weights(out.weights[:, 1:].T, out.weights[:, 0])
        self.stop_reason_ = self.stop_reason
        self.history_.stop_reason, self.history_.stopped_epoch = self.stop_reason, self.epochs_
        self._cbs.fire("on_train_end", {"stop_reason": self.stop_reason})
        return model

    # ------------------------------------------------------------------ output phase
    def _errors(self, H: np.ndarray, T: np.ndarray, W: np.ndarray):
        """(difference y − t, error term E = difference × (f' + offset)) for output weights W."""
        net = H @ W.T
        y = self._out_kind.value(net)
        diff = y - T
        prime = self._out_kind.prime(y, net)
        if self._out_kind.sigmoidal:
            prime = prime + self.prime_offset
        return diff, diff * prime

    def _done(self, diff: np.ndarray) -> bool:
        if self.criterion == "bits":
            return not np.any(np.abs(diff) > self.score_threshold)
        return self._index(diff) <= self.error_index

    def _index(self, diff: np.ndarray) -> float:
        return float(np.sqrt(np.mean(diff * diff))) / self._target_std

    def _train_outputs(self, H: np.ndarray, T: np.ndarray, out: _QuickpropArray) -> bool:
        """Train the output weights to victory, stagnation or the epoch limit; True on victory."""
        phase = self.output_phase
        patience = _Patience(phase.patience, phase.change_threshold, quit_at=phase.patience)
        good = out.weights.copy()
        for epoch in range(1, phase.max_epochs + 1):
            diff, err = self._errors(H, T, out.weights)
            if not np.all(np.isfinite(err)):          # the last step overflowed: keep the weights before it
                out.weights[...] = good
                self.stop_training = True
                self.stop_reason = (f"diverged at epoch {self.epochs_} (non-finite outputs); scale the inputs "
                                    f"or lower output_phase epsilon")
                return False
            if self._done(diff):
                self._record("output", diff, H.shape[1] - 1 - self.model_.n_inputs, epoch_counts=False)
                return True
            if self.stop_training:                    # stopped during the candidate phase: no more steps
                return False
            good[...] = out.weights
            out.step(err.T @ H)
            self.model_.set_output_weights(out.weights[:, 1:].T, out.weights[:, 0])   # callbacks see the model
            self._record("output", diff, H.shape[1] - 1 - self.model_.n_inputs)
            if self.stop_training or patience.stagnant(float(np.sum(diff * diff)), epoch):
                break
        return False

    # ------------------------------------------------------------------ candidate phase
    def _train_candidates(self, H: np.ndarray, T: np.ndarray, W: np.ndarray):
        """Train the pool, install the best candidate; returns (its values, its initial output weights).

        Returns None, installing nothing, when training is stopped before the pool is done.
        """
        phase = self.candidate_phase
        n, fan_in = H.shape
        diff, err = self._errors(H, T, W)
        centred = err - err.mean(axis=0)
        sse = float(np.sum(err * err)) or 1.0
        kinds = [self.candidate_activations[i % len(self.candidate_activations)] for i in range(self.n_candidates)]
        groups = [(UNIT_KINDS[k], np.array([i for i, ki in enumerate(kinds) if ki == k]))
                  for k in dict.fromkeys(kinds)]
        pool = _QuickpropArray(self._rng.uniform(-self.weight_range, self.weight_range, (self.n_candidates, fan_in)),
                               phase, phase.epsilon / (n * fan_in))
        patience = _Patience(phase.patience, phase.change_threshold, quit_at=phase.max_epochs)
        k_hidden = fan_in - 1 - self.model_.n_inputs
        for epoch in range(phase.max_epochs):
            _, score, slope = candidate_slopes(H, pool.weights, groups, centred, sse)
            pool.step(slope)
            self._record("candidates", diff, k_hidden, score=float(score.max()))
            if self.stop_training:
                return None
            if patience.stagnant(float(score.max()), epoch):
                break
        values, score, _ = candidate_slopes(H, pool.weights, groups, centred, sse)   # the final weights
        best = int(np.argmax(np.where(np.isfinite(score), score, -1.0)))
        cov = values[:, best] @ centred / sse
        self._record("candidates", diff, k_hidden, score=float(score[best]))
        w = pool.weights[best]
        self.model_.add_unit(kinds[best], w[1:], float(w[0]))
        multiplier = self.weight_multiplier if self.criterion == "bits" else self.weight_multiplier / fan_in
        self.units_.append({"kind": kinds[best], "score": float(score[best]), "epoch": self.epochs_})
        return values[:, best], -cov * multiplier

    # ------------------------------------------------------------------ events
    def _record(self, phase: str, diff: np.ndarray, n_hidden: int, score: Optional[float] = None,
                epoch_counts: bool = True) -> None:
        """Count the epoch, record it in history_ and send ``on_epoch_end`` (epochs numbered from 0, as rg.fit)."""
        if not epoch_counts:
            return
        epoch = self.epochs_
        self.epochs_ += 1
        logs: Dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(diff * diff)),
                "bit_fail": int(np.sum(np.abs(diff) > self.score_threshold)), "n_hidden": n_hidden,
                "score": score, "time": time.perf_counter() - self._t0}
        self.history_.record(logs)                     # numbers only: the history is written as CSV
        logs["phase"] = phase
        self._cbs.fire("on_epoch_end", epoch, logs)
        if self.max_epochs is not None and self.epochs_ >= self.max_epochs and not self.stop_training:
            self.stop_training, self.stop_reason = True, f"max_epochs={self.max_epochs}"


def candidate_slopes(H: np.ndarray, W: np.ndarray, groups: List[tuple], centred: np.ndarray, sse: float):
    """(values (N, C), scores S (C,), slopes of −S (C, fan_in)) of a candidate pool with weights W (C, fan_in).

    ``H`` holds the candidates' inputs (a column of ones, the inputs, the
    installed units), ``centred`` the error terms minus their means over the
    patterns (N, outputs), ``sse`` the sum of the squared error terms;
    ``groups`` pairs each ``UnitKind`` with the columns of W that use it. The
    covariance needs no V̄ term: the centred errors sum to zero over the patterns.
    """
    net = H @ W.T
    values, primes = np.empty_like(net), np.empty_like(net)
    for kind, cols in groups:
        v = kind.value(net[:, cols])
        values[:, cols] = v
        primes[:, cols] = kind.prime(v, net[:, cols])
    cov = values.T @ centred / sse                      # (candidates, outputs)
    sign = np.where(cov < 0, -1.0, 1.0)
    dS_dnet = primes * (centred @ sign.T) / sse         # (patterns, candidates)
    return values, np.abs(cov).sum(axis=1), -(dS_dnet.T @ H)


def _unit_values(model: CascadeNetwork, X: np.ndarray) -> np.ndarray:
    """The values of the installed hidden units for inputs X, (N, n_hidden), computed in NumPy."""
    h = X
    for unit, kind in zip(model.units, model.hidden):
        v = UNIT_KINDS[kind].value(h @ unit.weight.data[:, 0] + unit.bias.data[0])
        h = np.concatenate([h, v[:, None]], axis=1)
    return h[:, X.shape[1]:]


def _check_data(X: Any, T: Any):
    """X as a float64 (N, n_in) array and T as (N, n_out), with clear errors for bad shapes or values."""
    X = np.asarray(X, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"CascadeCorrelation.fit: X must be a non-empty 2-D array (samples, features), "
                         f"got shape {X.shape}")
    if T.ndim == 1:
        T = T[:, None]
    if T.ndim != 2 or T.shape[0] != X.shape[0] or T.shape[1] == 0:
        raise ValueError(f"CascadeCorrelation.fit: targets must have shape ({X.shape[0]},) or ({X.shape[0]}, k), "
                         f"got {T.shape}")
    for name, a in (("X", X), ("targets", T)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"CascadeCorrelation.fit: {name} contains NaN or infinity")
    return X, T
