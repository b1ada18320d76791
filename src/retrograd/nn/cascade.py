"""CascadeNetwork: the network that cascade-correlation grows (Fahlman & Lebiere 1990), as Linear/concat/activation ops.

Every hidden unit sees the inputs and every earlier hidden unit; every output
sees the inputs and every hidden unit:

    h_0 = x;   v_k = act_k(h_{k-1} @ W_k + b_k);   h_k = concat(h_{k-1}, v_k)
    y   = out_act(h_K @ W_out + b_out)

so the network is a chain of ``Linear`` layers, concatenations and elementwise
activations, which is all an exporter has to know. The unit kinds (``UNIT_KINDS``)
are those of Fahlman's code: the symmetric sigmoid σ(x) − ½ (his ``SIGMOID``,
range ±½), the logistic sigmoid, tanh, and his Gaussian exp(−x²/2); outputs may
also be linear (``"identity"``). Each kind carries its NumPy value and
derivative as well, for the trainer (``retrograd.training.cascade``), which
works on cached unit values instead of the graph.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..autograd import functions as F
from ..autograd.tensor import Tensor
from .containers import ModuleList
from .layers import Linear
from .module import Module

# Fahlman's reference code allows 2,000 units; the cap also keeps a stored description
# from asking for an absurd allocation before its tensors are checked.
MAX_HIDDEN_UNITS = 2000


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-x) overflows below about -709: clip where the sigmoid is 0 to double precision
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500.0, 500.0)))


@dataclass(frozen=True)
class UnitKind:
    """An activation of the cascade: its Tensor form (the model), its NumPy value and derivative (the trainer)."""
    tensor_fn: Callable[[Tensor], Tensor]
    value: Callable[[np.ndarray], np.ndarray]
    prime: Callable[[np.ndarray, np.ndarray], np.ndarray]     # f'(net) from (value, net)
    sigmoidal: bool                                            # bounded output, gets the prime offset


UNIT_KINDS = {
    "sigmoid_symmetric": UnitKind(lambda x: F.sigmoid(x) - 0.5,
                                  lambda x: _np_sigmoid(x) - 0.5,
                                  lambda v, x: 0.25 - v * v, True),
    "sigmoid": UnitKind(F.sigmoid, _np_sigmoid, lambda v, x: v * (1.0 - v), True),
    "tanh": UnitKind(F.tanh, np.tanh, lambda v, x: 1.0 - v * v, True),
    "gaussian": UnitKind(lambda x: F.exp(F.mul(F.mul(x, x), -0.5)),
                         lambda x: np.exp(-0.5 * x * x),
                         lambda v, x: -x * v, False),
    "identity": UnitKind(lambda x: x, lambda x: x, lambda v, x: np.ones_like(v), False),
}
HIDDEN_KINDS = ("sigmoid_symmetric", "sigmoid", "tanh", "gaussian")
_ALIASES = {"symmetric_sigmoid": "sigmoid_symmetric", "logistic": "sigmoid", "linear": "identity",
            "rbf": "gaussian"}


def unit_kind(name: str, hidden: bool = False) -> str:
    """The canonical name of a unit kind (``'linear'`` -> ``'identity'``), or a ValueError listing the kinds."""
    key = str(name).lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    allowed = HIDDEN_KINDS if hidden else tuple(UNIT_KINDS)
    if key not in allowed:
        what = "hidden unit" if hidden else "output"
        raise ValueError(f"unknown {what} activation {name!r} for a cascade network; known: {', '.join(allowed)}")
    return key


class CascadeNetwork(Module):
    """The cascade architecture: ``n_inputs`` inputs, hidden units in a cascade, ``n_outputs`` outputs.

    ``hidden`` lists the kinds of the hidden units already installed (usually
    empty: ``rg.training.CascadeCorrelation`` grows the network with
    ``add_unit``); ``output`` is the output activation. Unit ``k`` is
    ``units[k]``, a ``Linear(n_inputs + k, 1)``; the outputs are ``output``,
    a ``Linear(n_inputs + n_hidden, n_outputs)``. It saves and loads with
    ``rg.save`` / ``rg.load`` like any model built from retrograd layers.
    """
    traceable = True

    def __init__(self, n_inputs: int, n_outputs: int, hidden: Sequence[str] = (),
                 output: str = "sigmoid_symmetric", dtype=None, generator=None) -> None:
        super().__init__()
        n_inputs, n_outputs = int(n_inputs), int(n_outputs)
        if n_inputs < 1 or n_outputs < 1:
            raise ValueError(f"CascadeNetwork needs at least one input and one output, got "
                             f"n_inputs={n_inputs}, n_outputs={n_outputs}")
        if isinstance(hidden, str):
            raise TypeError(f"CascadeNetwork: hidden must be a list of unit kinds, got the string {hidden!r}")
        hidden = [unit_kind(k, hidden=True) for k in hidden]
        if len(hidden) > MAX_HIDDEN_UNITS:
            raise ValueError(f"CascadeNetwork: {len(hidden)} hidden units, at most {MAX_HIDDEN_UNITS}")
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self.hidden = hidden
        self.output_activation = unit_kind(output)
        self.units = ModuleList([Linear(n_inputs + k, 1, dtype=dtype, generator=generator)
                                 for k in range(len(hidden))])
        self.output = Linear(n_inputs + len(hidden), n_outputs, dtype=dtype, generator=generator)

    @property
    def n_hidden(self) -> int:
        """How many hidden units are installed."""
        return len(self.hidden)

    def forward(self, x: Tensor) -> Tensor:
        """The outputs for a batch ``x`` of shape (N, n_inputs)."""
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"CascadeNetwork with {self.n_inputs} inputs: input must have shape "
                             f"(N, {self.n_inputs}), got {tuple(x.shape)}")
        h = x
        for unit, kind in zip(self.units, self.hidden):
            h = F.concatenate([h, UNIT_KINDS[kind].tensor_fn(unit(h))], axis=1)
        return UNIT_KINDS[self.output_activation].tensor_fn(self.output(h))

    def add_unit(self, kind: str, weight: np.ndarray, bias: float,
                 output_weight: Optional[np.ndarray] = None) -> "CascadeNetwork":
        """Install a hidden unit with input weights ``weight`` (n_inputs + n_hidden,) and ``bias``.

        The output layer gains one input row, ``output_weight`` (n_outputs,),
        zeros if not given; the existing output weights are kept.
        """
        kind = unit_kind(kind, hidden=True)
        if self.n_hidden >= MAX_HIDDEN_UNITS:
            raise ValueError(f"CascadeNetwork: already {self.n_hidden} hidden units, at most {MAX_HIDDEN_UNITS}")
        fan_in = self.n_inputs + self.n_hidden
        weight = np.asarray(weight, dtype=np.float64).reshape(-1)
        if weight.shape != (fan_in,):
            raise ValueError(f"add_unit: weight must have shape ({fan_in},) (inputs + hidden units), "
                             f"got {weight.shape}")
        dtype = self.output.weight.data.dtype
        unit = Linear(fan_in, 1, dtype=dtype)
        unit.weight.data[:, 0] = weight
        unit.bias.data[0] = bias
        out_w = np.zeros(self.n_outputs) if output_weight is None else np.asarray(output_weight).reshape(-1)
        if out_w.shape != (self.n_outputs,):
            raise ValueError(f"add_unit: output_weight must have shape ({self.n_outputs},), got {out_w.shape}")
        output = Linear(fan_in + 1, self.n_outputs, dtype=dtype)
        output.weight.data[:fan_in] = self.output.weight.data
        output.weight.data[fan_in] = out_w
        output.bias.data[...] = self.output.bias.data
        self.units.append(unit)
        self.hidden.append(kind)
        self.output = output
        return self

    def set_output_weights(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """Copy output weights (n_inputs + n_hidden, n_outputs) and biases (n_outputs,) into the output layer."""
        weight, bias = np.asarray(weight), np.asarray(bias).reshape(-1)
        want = (self.n_inputs + self.n_hidden, self.n_outputs)
        if weight.shape != want or bias.shape != (self.n_outputs,):
            raise ValueError(f"set_output_weights: weight must have shape {want} and bias ({self.n_outputs},), "
                             f"got {weight.shape} and {bias.shape}")
        self.output.weight.data[...] = weight
        self.output.bias.data[...] = bias

    def absorb_input_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Fold ``x -> (x - mean) / scale`` into every layer that reads the inputs, so raw inputs give the same outputs.

        For a network trained on standardised inputs: each unit and the output
        layer see ``x`` through their first ``n_inputs`` weight rows, so
        ``W_x <- W_x / scale`` and ``b <- b - (mean / scale) @ W_x`` is exact.
        """
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if mean.shape != (self.n_inputs,) or scale.shape != (self.n_inputs,) or np.any(scale == 0):
            raise ValueError(f"absorb_input_scaling: mean and scale must have shape ({self.n_inputs},) and the "
                             f"scale no zeros, got {mean.shape} and {scale.shape}")
        for layer in [*self.units, self.output]:
            w = layer.weight.data
            layer.bias.data -= ((mean / scale) @ w[:self.n_inputs]).astype(w.dtype)
            w[:self.n_inputs] /= scale[:, None].astype(w.dtype)

    def extra_repr(self) -> str:
        kinds = ", ".join(self.hidden)
        return (f"n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, hidden=[{kinds}], "
                f"output={self.output_activation!r}")
