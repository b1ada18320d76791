"""Multi-tensor steps: an elementwise update rule applied once to small parameters laid end to end.

A network has many small parameter arrays (every bias), and an update such as
Adam's is a dozen NumPy calls per array, so for small arrays the optimizer
step is mostly call overhead. When a rule is elementwise (each output element
depends only on the same element of p, g and the state, plus scalars shared
by the group), running it once on the concatenation of the arrays gives,
element for element, the same arithmetic and so bit for bit the same result.

The state stays per parameter, as ``state_dict`` and ``load_state_dict`` see
it: each parameter's state arrays are views into the pack's flat arrays, and
its scalars (Adam's step count) are copied after every packed step. A
replaced state (``load_state_dict`` makes new dicts) is noticed before the
next packed step, which rebuilds the flat state from the per-parameter one;
``packed_step`` marks the pack stale whenever the optimizer updates one of
its parameters on its own (a step in which another had no gradient).

Registered as a group step of every optimizer that declares its rule
elementwise (``Optimizer.elementwise``: Adam, AdamW, AMSGrad); the rule itself
runs through ``optimizer.apply_update``, so Adam's compiled pass serves the
flat arrays too.
"""
import numpy as np

from ..optim.optimizer import Optimizer

PACK_BELOW = 8192             # parameters with fewer elements than this are packed


class Pack:
    """The flat parameter, gradient and state arrays of some parameters of one group."""

    def __init__(self, params):
        self.params = list(params)
        self.dtype = self.params[0].data.dtype
        self.shapes = [p.data.shape for p in self.params]
        self.bounds = np.cumsum([0] + [p.data.size for p in self.params]).tolist()
        self.flat_p = np.empty(self.bounds[-1], self.dtype)
        self.flat_g = np.empty(self.bounds[-1], self.dtype)
        self.p_views = self._views(self.flat_p)
        self.keys = [id(p) for p in self.params]
        self.state = None        # the flat state
        self.linked = None       # the per-parameter state dicts that alias it
        self.source = None       # the optimizer's state dict they live in

    @staticmethod
    def fits(params):
        """True for two or more NumPy parameters of one floating dtype."""
        if len(params) < 2:
            return False
        dtype = params[0].data.dtype
        return dtype.kind == "f" and all(type(p.data) is np.ndarray and p.data.dtype == dtype for p in params)

    def serves(self, params):
        """The same parameters, in the same order?"""
        return len(params) == len(self.params) and all(a is b for a, b in zip(params, self.params))

    def _views(self, flat):
        b = self.bounds
        return [flat[b[i]:b[i + 1]].reshape(shape) for i, shape in enumerate(self.shapes)]

    def step(self, optimizer, grads, group):
        """Update the parameters with one call of the optimizer's rule; False if the pack cannot."""
        states, dtype = optimizer.state, self.dtype
        for p, shape in zip(self.params, self.shapes):
            if p.data.dtype != dtype or p.data.shape != shape or type(p.data) is not np.ndarray:
                return False      # cast or moved to the GPU (Module.to) since the pack was made
        if states is not self.source or any(states.get(k) is not d for k, d in zip(self.keys, self.linked)):
            if not self._rebuild(optimizer, group):
                return False
        np.concatenate([g.reshape(-1) for g in grads], out=self.flat_g)
        np.concatenate([p.data.reshape(-1) for p in self.params], out=self.flat_p)
        state = self.state
        optimizer.apply_update(self.flat_p, self.flat_g, state, group)
        for p, view in zip(self.params, self.p_views):
            p.data[...] = view
        if len(state) != len(self.arrays) + len(self.scalars) or any(
                state.get(k) is not a for k, a in self.arrays.items()):
            self._link()                                 # the rule made or replaced a state array
        for d in self.linked:
            for k in self.scalars:
                d[k] = state[k]
        return True

    def _rebuild(self, optimizer, group):
        """The flat state from the per-parameter states (or fresh); False if they cannot be joined."""
        per_param = [optimizer.state.get(k) for k in self.keys]
        if all(st is None for st in per_param):
            state = optimizer.init_state(self.flat_p, group)
        else:
            state = self._joined(per_param)
            if state is None:
                return False
        self.state = state
        self.source = optimizer.state
        self.linked = [st if st is not None else optimizer.state.setdefault(k, {})
                       for k, st in zip(self.keys, per_param)]
        self._link()
        return True

    def _joined(self, per_param):
        """Concatenate per-parameter states with the same keys and equal scalars; None otherwise."""
        if any(st is None for st in per_param) or len({tuple(sorted(st)) for st in per_param}) != 1:
            return None
        flat = {}
        for key, first in per_param[0].items():
            if isinstance(first, np.ndarray):
                parts = [st[key] for st in per_param]
                if any(a.shape != shape for a, shape in zip(parts, self.shapes)):
                    return None
                flat[key] = np.concatenate([a.reshape(-1) for a in parts]).astype(self.dtype, copy=False)
            elif all(st[key] == first for st in per_param):
                flat[key] = first
            else:
                return None
        return flat

    def _link(self):
        """Point every parameter's state at views of the flat arrays; note which entries are scalars."""
        self.arrays = {k: v for k, v in self.state.items() if isinstance(v, np.ndarray)}
        self.scalars = [k for k in self.state if k not in self.arrays]
        for key, flat in self.arrays.items():
            for d, view in zip(self.linked, self._views(flat)):
                d[key] = view
        for d in self.linked:
            for k in self.scalars:
                d[k] = self.state[k]


def packed_step(optimizer: Optimizer, group: dict, params: list, grads: list) -> tuple[list, list]:
    """Update the group's small parameters as one flat array; returns the (params, grads) left over.

    Small arrays cost call overhead, not arithmetic, so they share one update;
    large ones would gain nothing and pay for the copies in and out.
    """
    packs = optimizer.__dict__.setdefault("_packs", {})
    pack = packs.get(id(group))
    small = [i for i, p in enumerate(params) if p.data.size < PACK_BELOW]
    if len(params) == len(group["params"]) and len(small) > 1:
        members = [params[i] for i in small]
        if pack is None or not pack.serves(members):
            pack = packs[id(group)] = Pack(members) if Pack.fits(members) else None
        if pack is not None and pack.step(optimizer, [grads[i] for i in small], group):
            taken = set(small)
            return ([p for i, p in enumerate(params) if i not in taken],
                    [g for i, g in enumerate(grads) if i not in taken])
    if pack is not None:
        pack.source = None    # its parameters are updated one by one: rebuild before packing again
    return params, grads


def _elementwise(optimizer, group):
    return optimizer.elementwise


def register() -> None:
    """Pack the small parameters of every optimizer whose rule is elementwise."""
    Optimizer.accelerate_step(packed_step, when=_elementwise)
