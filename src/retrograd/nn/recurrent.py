"""Recurrent layers RNN (tanh/relu), LSTM and GRU: several layers, bidirectional, batch_first, states in and out.

Parameter names, shapes, gate orders and the default init are PyTorch's
(``weight_ih_l{k}`` (gates*H, in), ``weight_hh_l{k}`` (gates*H, H),
``bias_ih_l{k}``, ``bias_hh_l{k}``, ``_reverse`` for the backward direction;
U(±1/sqrt(H)) for every tensor), so a torch state dict copies over 1:1.
Each layer and direction runs as one fused primitive (see
``autograd/ops/recurrent.py``): gradients flow through every time step
(BPTT). For truncated BPTT, carry the returned state into the next chunk
after ``.detach()``.
"""
import math

import numpy as np

from .. import backend
from ..autograd import functions as F
from ..autograd.ops.registry import OPS
from ..autograd.tensor import Tensor, apply
from . import init
from .layers import dropout_scale
from .arguments import check_input, float_dtype, real_number, whole_number
from .module import Module, Parameter

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


class _RNNBase(Module):
    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=None, generator=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = whole_number(input_size, f"{name}: input_size", 1)
        self.hidden_size = whole_number(hidden_size, f"{name}: hidden_size", 1)
        self.num_layers, self.bias = whole_number(num_layers, f"{name}: num_layers", 1), bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = real_number(dropout, f"{name}: dropout", minimum=0.0, below=1.0)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        dtype = float_dtype(dtype, name)
        gates = _GATES[self.mode] * self.hidden_size
        self._names = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for d in range(self.num_directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                setattr(self, names[0], Parameter(np.zeros((gates, in_size), dtype=dtype)))
                setattr(self, names[1], Parameter(np.zeros((gates, self.hidden_size), dtype=dtype)))
                if self.bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    setattr(self, names[2], Parameter(np.zeros(gates, dtype=dtype)))
                    setattr(self, names[3], Parameter(np.zeros(gates, dtype=dtype)))
                self._names.append(names)
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, in PyTorch's parameter order."""
        rng = backend.get_generator(generator)
        b = 1.0 / math.sqrt(self.hidden_size)
        for names in self._names:
            for n in names:
                init.uniform_(getattr(self, n), -b, b, generator=rng)

    # ------------------------------------------------------------ running
    def _initial(self, hx, batch, like, name):
        """The initial states, one (B, H) array or Tensor per layer and direction (zeros on ``like``'s device)."""
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            return [np.zeros_like(like, shape=shape[1:])] * shape[0]
        arr = hx.data if isinstance(hx, Tensor) else hx
        if not backend.is_device_array(arr):
            arr = np.asarray(arr)
        if tuple(arr.shape) != shape:
            raise ValueError(f"{type(self).__name__}: initial {name} must have shape "
                             f"(num_layers*num_directions, batch, hidden) = {shape}, got {tuple(arr.shape)}")
        return [hx[k] for k in range(shape[0])] if isinstance(hx, Tensor) else list(arr)

    def _run(self, layer_in, names, states, reverse):
        """One layer, one direction: returns (h sequence (T,B,H), final states)."""
        H = self.hidden_size
        dtype = layer_in.dtype
        params = [getattr(self, n) for n in names]
        if not self.bias:
            zeros = np.zeros_like(layer_in.data, dtype=dtype, shape=(_GATES[self.mode] * H,))
            params += [zeros, zeros]
        last = 0 if reverse else -1
        if self.mode == "LSTM":
            out = apply(OPS["lstm_seq"], layer_in, states[0], states[1], *params, reverse=reverse)  # (2, T, B, H)
            return out[0], [out[0, last], out[1, last]]
        if self.mode == "GRU":
            out = apply(OPS["gru_seq"], layer_in, states[0], *params, reverse=reverse)
            return out, [out[last]]
        out = apply(OPS["rnn_seq"], layer_in, states[0], *params, reverse=reverse,
                    nonlinearity=self.nonlinearity)
        return out, [out[last]]

    def forward(self, x, hx=None):
        name = type(self).__name__
        check_input(x, name)
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            layout = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
            raise ValueError(f"{name}: input must be {layout} with features = {self.input_size}, "
                             f"got shape {tuple(x.shape)}")
        if self.batch_first:
            x = F.transpose(x, (1, 0, 2))
        batch = x.shape[1]
        if self.mode == "LSTM":
            h0, c0 = (None, None) if hx is None else hx
            init_states = list(zip(self._initial(h0, batch, x.data, "h"), self._initial(c0, batch, x.data, "c")))
        else:
            init_states = [(s,) for s in self._initial(hx, batch, x.data, "h")]
        finals = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                seq, fin = self._run(layer_in, self._names[k], init_states[k], reverse=bool(d))
                outs.append(seq)
                finals.append(fin)
            layer_in = outs[0] if len(outs) == 1 else F.concatenate(outs, axis=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = layer_in * dropout_scale(layer_in.data, self.dropout, None)
        output = F.transpose(layer_in, (1, 0, 2)) if self.batch_first else layer_in
        h_n = F.stack([f[0] for f in finals])
        if self.mode == "LSTM":
            return output, (h_n, F.stack([f[1] for f in finals]))
        return output, h_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu.

    Returns ``(output, h_n)``: output (T, B, D*H) (batch first if asked), h_n
    (num_layers*D, B, H).
    """
    mode = "RNN"

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", **kw):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.__dict__["nonlinearity"] = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, **kw)


class LSTM(_RNNBase):
    """Long short-term memory (gates i, f, g, o). ``forward(x, (h0, c0))`` -> ``(output, (h_n, c_n))``."""
    mode = "LSTM"


class GRU(_RNNBase):
    """Gated recurrent unit (gates r, z, n; PyTorch's formulation). ``forward(x, h0)`` -> ``(output, h_n)``."""
    mode = "GRU"
