"""The base Optimizer: parameter groups, lazy per-parameter state, weight decay, clipping, state_dict."""
import math
from typing import Any, Callable, Optional

import numpy as np

from .. import backend
from ..autograd.ops.registry import acceleration_enabled
from ..autograd.tensor import GRAD_MODE, Tensor
from .hyper import check_arguments, check_values

_COMMON = {"weight_decay": 0.0, "clip_norm": None, "clip_value": None}
_UPDATES: dict[Any, tuple] = {}        # an update rule (function) -> its faster versions: ((when, version), ...)
_GROUP_STEPS: tuple = ()    # faster ways to update a group's parameters together: ((when, group_step), ...)


class Optimizer:
    """Base class of every retrograd optimizer (the shape of ``torch.optim.Optimizer``).

    A subclass sets its hyperparameter defaults and writes one per-parameter rule,
    ``update(p, g, state, group)``: ``p`` is the parameter's array (updated in
    place), ``g`` its gradient array (weight decay and clipping already applied),
    ``state`` a dict created lazily by ``init_state``. Methods that need the loss
    or the whole parameter vector (L-BFGS, CG, LM, ...) override ``step`` instead.
    ``update`` is the math only: a compiled or multi-tensor version is registered
    from ``retrograd.accel`` (``accelerate_update``, ``accelerate_step``) and runs
    where it applies while acceleration is on.

    Every group also accepts ``weight_decay`` (L2: ``g += wd * p``, or the
    decoupled ``p *= 1 - lr * wd`` when the class sets ``decoupled_weight_decay``),
    ``clip_norm`` (rescale the group's gradients so that their joint 2-norm is at
    most this) and ``clip_value`` (clamp each gradient element to ``[-v, v]``).
    Clipping comes first, then weight decay, as ``torch.nn.utils.clip_grad_*``
    followed by ``torch.optim``.

    A subclass declares what its hyperparameters accept in ``hyperparameters``
    (``{"lr": Real(low=0), ...}``, see ``optim/hyper.py``); the arguments of every
    constructor call are checked against those rules before the constructor runs,
    and each parameter group's values when it is added, so a bad value raises a
    TypeError or ValueError naming the optimizer and the argument at the call.
    """
    full_batch = False            # True: assumes the same function every step (use with mode='batch')
    # True when update() is elementwise (each element of p, g and the state on its own, with
    # scalars shared by the group) and long enough that running it once over the group's small
    # parameters laid end to end beats one call per array (retrograd/accel/packed.py does)
    elementwise = False
    closure_kind = "loss"         # "loss": closure returns the loss after backward(); "residuals": see LM
    decoupled_weight_decay = False

    hyperparameters: dict = {}    # name -> hyper.Rule; merged along the class hierarchy

    def __init_subclass__(cls, **kwargs):
        """A subclass's own ``step`` first moves the optimizer's state after its parameters (see ``to``)."""
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_follows_parameters", False):
            cls.step = _following_parameters(step)

    def __new__(cls, *args, **kwargs):
        """Check the constructor's arguments against the declared rules, before any __init__ runs."""
        check_arguments(cls, args, kwargs)
        return super().__new__(cls)

    def __init__(self, params, defaults, **common):
        if hasattr(params, "parameters") and not isinstance(params, (Tensor, dict, list, tuple)):
            raise TypeError(f"{type(self).__name__}: pass the model's parameters "
                            f"(model.parameters()), not the {type(params).__name__} itself")
        if isinstance(params, (str, bytes)):
            raise TypeError(f"{type(self).__name__}: params must be model.parameters() or a list of "
                            f"tensors, got the string {params!r}")
        unknown = set(common) - set(_COMMON)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyperparameter(s) {sorted(unknown)}; "
                            f"known: {sorted(set(defaults) | set(_COMMON))}")
        for key, value in _COMMON.items():
            defaults.setdefault(key, common.get(key, value))
        self.defaults = dict(defaults)
        self._placement = backend.PLACEMENT[0]     # the Module.to count the state was placed at
        self.state = {}           # id(param) -> dict of arrays / Python scalars
        self.param_groups = []
        groups = list(params) if not isinstance(params, (Tensor, dict)) else [params]
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list: pass model.parameters() "
                             "or a list of tensors with requires_grad=True")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----------------------------------------------------------- groups
    def add_param_group(self, group):
        """Add a dict ``{"params": [...], hyper: value, ...}``; missing hyperparameters take the defaults."""
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require "
                                 "grad; create it with requires_grad=True (or use rg.nn.Parameter)")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} appears in two "
                                 "groups (or twice); each tensor may be optimised once")
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyperparameter(s) {sorted(unknown)}; "
                            f"known: {sorted(self.defaults)}")
        check_values(type(self), {k: v for k, v in group.items() if k != "params"})
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        self.param_groups.append(full)

    def params(self):
        """All parameters, in group order (the order state_dict numbers them)."""
        return [p for g in self.param_groups for p in g["params"]]

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    # ----------------------------------------------------------- stepping
    def _evaluate(self, closure):
        """Run the user's closure with recording on; returns what it returned."""
        mode = GRAD_MODE.set(True)        # as enable_grad(), without a context object per step
        try:
            return closure()
        finally:
            GRAD_MODE.reset(mode)

    def step(self, closure=None):
        """One update of every parameter from its ``.grad``; returns the closure's loss (float) if given."""
        if self._placement != backend.PLACEMENT[0]:
            self.follow_parameters()
        loss = None
        if closure is not None:
            loss = float(self._evaluate(closure))
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group):
        params, grads = self.gradients(group)
        if _GROUP_STEPS and acceleration_enabled():
            for when, group_step in _GROUP_STEPS:
                if when is None or when(self, group):
                    params, grads = group_step(self, group, params, grads)
        state, init = self.state, self.init_state
        for p, g in zip(params, grads):
            st = state.get(id(p))
            if st is None:
                st = state[id(p)] = init(p.data, group)
            self.apply_update(p.data, g, st, group)

    def apply_update(self, p: Any, g: Any, state: dict, group: dict) -> None:
        """Run ``update`` on one parameter's arrays, or a faster version of this rule where one applies."""
        versions = _UPDATES.get(type(self).update)
        if versions and acceleration_enabled():
            for when, version in versions:
                if when is None or when(p, g, state, group):
                    version(p, g, state, group)
                    return
        self.update(p, g, state, group)

    # ----------------------------------------------------------- devices and dtypes
    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> "Optimizer":
        """Move (and cast, for a floating ``dtype``) every state array in place; returns the optimizer.

        ``opt.to('cuda')``, ``opt.to(np.float64)``, ``opt.to('cpu', np.float32)``. The
        parameters are the model's to move (``model.to(...)``); calling this is
        optional: before each step an optimizer whose parameters were moved by
        ``Module.to`` moves its state after them by itself (``follow_parameters``).
        Per-parameter state, the full-batch methods' histories and search
        directions and LM's buffers all move; plain numbers stay numbers.
        """
        device, dtype = backend.device_and_dtype(args, device, dtype, type(self).__name__)
        if device is not None and device != "cpu":
            backend.require_gpu(device)
        self._move_state(lambda a: backend.move_array(a, device, dtype))
        self._placement = backend.PLACEMENT[0]
        return self

    def follow_parameters(self) -> None:
        """Put every state array on its parameter's device, in its dtype (run before a step after ``Module.to``).

        Per-parameter arrays take their parameter's device and, when shaped
        like it, its dtype; arrays kept for the whole vector (L-BFGS's history,
        CG's directions) take the first parameter's device and the parameters' common dtype.
        """
        self._placement = backend.PLACEMENT[0]
        params = self.params()
        if not params:
            return
        by_id = {id(p): p for p in params}
        new_state = {}
        for key, st in self.state.items():
            p = by_id.get(key)
            if p is None:
                new_state[key] = st
                continue
            device = backend.device_of(p.data)
            new_state[key] = {k: _follow(v, p.data, device) for k, v in st.items()}
        self.state = new_state       # new dicts: a packed step notices and rebuilds from them
        device = backend.device_of(params[0].data)
        dtype = np.result_type(*[p.data.dtype for p in params])
        self._move_state(lambda a: backend.move_array(a, device, dtype), per_parameter=False)

    def _move_state(self, move: Callable[[Any], Any], per_parameter: bool = True) -> None:
        """Apply ``move`` to every array the optimizer keeps (per parameter, and in its own attributes)."""
        if per_parameter:
            self.state = {k: {name: _moved(v, move) for name, v in st.items()} for k, st in self.state.items()}
        for name, value in list(vars(self).items()):
            if name not in _NOT_STATE:
                self.__dict__[name] = _moved(value, move)

    # ----------------------------------------------------------- faster versions (retrograd.accel)
    @classmethod
    def accelerate_update(cls, version: Callable[..., None],
                          when: Optional[Callable[..., bool]] = None) -> Callable[..., None]:
        """Register a faster ``version(p, g, state, group)`` of this class's ``update`` (from retrograd.accel).

        It must give the rule's result; it serves the subclasses that keep the
        rule (Adam's serves AdamW and AMSGrad), not one that redefines
        ``update``. ``when(p, g, state, group)``: where it applies (None: always).
        """
        _UPDATES[cls.update] = _UPDATES.get(cls.update, ()) + ((when, version),)
        return version

    @staticmethod
    def accelerate_step(group_step: Callable[..., tuple],
                        when: Optional[Callable[..., bool]] = None) -> Callable[..., tuple]:
        """Register a faster way to update a group's parameters together (from retrograd.accel).

        ``group_step(optimizer, group, params, grads)`` updates some of the
        parameters (with ``optimizer.apply_update``) and returns the
        (params, grads) left for the one-by-one loop. ``when(optimizer, group)``:
        where it applies (None: always).
        """
        global _GROUP_STEPS
        _GROUP_STEPS = _GROUP_STEPS + ((when, group_step),)
        return group_step

    def gradients(self, group):
        """(parameters with a gradient, their gradient arrays) after clipping and weight decay."""
        params, grads = [], []
        for p in group["params"]:
            if p.grad is not None:
                params.append(p)
                grads.append(p.grad.data)
        cv, cn, wd = group["clip_value"], group["clip_norm"], group["weight_decay"]
        if cv is None and cn is None and not wd:       # the common case, kept cheap (W1: 8000 tiny steps)
            return params, grads
        if cv is not None:
            grads = [np.clip(g, -cv, cv) for g in grads]
        if cn is not None:
            total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if total > cn:
                scale = cn / (total + 1e-6)      # the 1e-6 as torch's clip_grad_norm_
                grads = [g * scale for g in grads]
        if wd:
            if self.decoupled_weight_decay:
                shrink = 1.0 - group["lr"] * wd
                for p in params:
                    p.data *= shrink
            else:
                grads = [g + wd * p.data for p, g in zip(params, grads)]
        return params, grads

    def init_state(self, p, group):
        """The state of one parameter, created at its first update."""
        return {}

    def update(self, p, g, state, group):
        raise NotImplementedError(f"{type(self).__name__} must define update(p, g, state, group) or step()")

    # ----------------------------------------------------------- saving
    def state_dict(self):
        """``{"state": {index: {name: array|float|int}}, "param_groups": [{hyper..., "params": [index]}]}``.

        Only arrays and Python scalars, so it can be written without pickle
        (e.g. with ``rg.io.save_tensors``); arrays are copies.
        """
        index = {id(p): i for i, p in enumerate(self.params())}
        state = {}
        for key, st in self.state.items():
            if key in index:
                state[index[key]] = {k: (v.copy() if _is_array(v) else v) for k, v in st.items()}
        for key, value in self._global_state().items():
            state.setdefault(-1, {})[key] = value
        groups = []
        for g in self.param_groups:
            d = {k: v for k, v in g.items() if k != "params"}
            d["params"] = [index[id(p)] for p in g["params"]]
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by ``state_dict`` (parameters matched by position)."""
        params = self.params()
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the saved state has {len(groups)} parameter groups, "
                             f"this optimizer {len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: a saved group has {len(saved['params'])} parameters, "
                                 f"this one {len(group['params'])}")
            for k, v in saved.items():
                if k != "params":
                    group[k] = v
        self.state = {}
        for i, st in state_dict["state"].items():
            i = int(i)
            copy = {k: (v.copy() if _is_array(v) else v) for k, v in st.items()}
            if i == -1:
                self._load_global_state(copy)
                continue
            if not 0 <= i < len(params):
                raise ValueError(f"load_state_dict: state for parameter {i}, but there are {len(params)}")
            # a state saved on another device or in another dtype joins its parameter
            device = backend.device_of(params[i].data)
            self.state[id(params[i])] = {k: _follow(v, params[i].data, device) for k, v in copy.items()}
        if params and backend.device_of(params[0].data) != "cpu":   # whole-vector state (histories) too
            self._move_state(lambda a: backend.move_array(a, "cuda"), per_parameter=False)
        self._placement = backend.PLACEMENT[0]

    def _global_state(self):
        """State not tied to one parameter (saved under index -1); subclasses with such state override."""
        return {}

    def _load_global_state(self, state):
        pass

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for i, g in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  group {i}: {len(g['params'])} tensors, {hyper}")
        return "\n".join(lines) + "\n)"


# attributes of an optimizer that are not state to move: the parameters and settings, and
# objects that hold parameters (the flat view) or the accelerated step's packs (rebuilt when stale)
_NOT_STATE = frozenset({"param_groups", "defaults", "state", "_flat", "_packs", "_placement"})


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or backend.is_device_array(value)


def _moved(value: Any, move: Callable[[Any], Any]) -> Any:
    """``value`` with ``move`` applied to every array in it (through dicts, lists and tuples)."""
    if _is_array(value):
        return move(value)
    if isinstance(value, dict):
        return {k: _moved(v, move) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_moved(v, move) for v in value)
    return value


def _follow(value: Any, param: Any, device: str) -> Any:
    """A parameter's state value on the parameter's device; an array shaped like it also in its dtype."""
    if not _is_array(value):
        return value
    dtype = param.dtype if value.shape == param.shape and value.dtype.kind == "f" else None
    return backend.move_array(value, device, dtype)


def _following_parameters(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` preceded by moving the state after parameters that ``Module.to`` moved (one integer test)."""
    def step_after_parameters(self: "Optimizer", *args: Any, **kwargs: Any) -> Any:
        if self._placement != backend.PLACEMENT[0]:
            self.follow_parameters()
        return step(self, *args, **kwargs)
    step_after_parameters.__name__ = step.__name__
    step_after_parameters.__qualname__ = step.__qualname__
    step_after_parameters.__doc__ = step.__doc__
    step_after_parameters.__wrapped__ = step            # type: ignore[attr-defined]
    step_after_parameters._follows_parameters = True    # type: ignore[attr-defined]
    return step_after_parameters
