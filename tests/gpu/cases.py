"""Every layer and every loss as a row, run on a device: the GPU tests compare 'cuda' with 'cpu'.

``run_layer(case, device, dtype)`` builds the layer from a fixed seed, moves
it with ``Module.to(device)``, runs the forward on fixed inputs and a
backward with a fixed cotangent, and returns the output and every gradient
(parameters and input) as host arrays, so two devices can be compared.
``run_loss`` does the same for a loss function with its prediction and target.
"""
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import retrograd as rg
from retrograd import backend

nn = rg.nn


@dataclass
class LayerCase:
    name: str
    make: Callable[[Any], Any]         # dtype -> module
    shape: tuple                        # input shape
    integer_input: int = 0              # > 0: integer inputs in [0, integer_input)
    call: Callable[..., Any] = field(default=lambda m, x: m(x))
    train: bool = True


def _first(out):
    """A layer's main output (recurrent layers return (output, state))."""
    return out[0] if isinstance(out, tuple) else out


LAYERS = [
    LayerCase("linear", lambda dt: nn.Linear(6, 4, dtype=dt, generator=0), (5, 6)),
    LayerCase("linear_no_bias", lambda dt: nn.Linear(6, 4, bias=False, dtype=dt, generator=0), (2, 3, 6)),
    LayerCase("flatten", lambda dt: nn.Flatten(), (3, 2, 4)),
    LayerCase("embedding", lambda dt: nn.Embedding(7, 3, dtype=dt, generator=0), (4, 5), integer_input=7),
    LayerCase("conv1d", lambda dt: nn.Conv1d(3, 4, 3, padding=1, dtype=dt, generator=0), (2, 3, 9)),
    LayerCase("conv2d", lambda dt: nn.Conv2d(3, 4, 3, padding=1, dtype=dt, generator=0), (2, 3, 6, 5)),
    LayerCase("conv2d_strided_dilated_groups",
              lambda dt: nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), dilation=(1, 2), groups=2,
                                   dtype=dt, generator=0), (2, 4, 7, 8)),
    LayerCase("maxpool1d", lambda dt: nn.MaxPool1d(2), (2, 3, 8)),
    LayerCase("maxpool2d_padded", lambda dt: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    LayerCase("avgpool2d", lambda dt: nn.AvgPool2d(2), (2, 3, 6, 4)),
    LayerCase("batchnorm1d_train", lambda dt: nn.BatchNorm1d(4, dtype=dt), (6, 4)),
    LayerCase("batchnorm2d_train", lambda dt: nn.BatchNorm2d(3, dtype=dt), (4, 3, 5, 5)),
    LayerCase("batchnorm1d_eval", lambda dt: nn.BatchNorm1d(4, dtype=dt), (6, 4), train=False),
    LayerCase("layernorm", lambda dt: nn.LayerNorm((3, 4), dtype=dt), (2, 5, 3, 4)),
    LayerCase("rnn_tanh", lambda dt: nn.RNN(3, 5, dtype=dt, generator=0), (6, 2, 3), call=lambda m, x: _first(m(x))),
    LayerCase("rnn_relu_2layers_bidirectional",
              lambda dt: nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True, dtype=dt,
                                generator=0), (5, 2, 3), call=lambda m, x: _first(m(x))),
    LayerCase("lstm", lambda dt: nn.LSTM(3, 5, dtype=dt, generator=0), (7, 2, 3), call=lambda m, x: _first(m(x))),
    LayerCase("lstm_batch_first_bidirectional_no_bias",
              lambda dt: nn.LSTM(3, 4, bias=False, batch_first=True, bidirectional=True, dtype=dt, generator=0),
              (2, 6, 3), call=lambda m, x: _first(m(x))),
    LayerCase("lstm_final_state", lambda dt: nn.LSTM(3, 4, num_layers=2, dtype=dt, generator=0), (5, 3, 3),
              call=lambda m, x: m(x)[1][1]),
    LayerCase("gru", lambda dt: nn.GRU(3, 5, dtype=dt, generator=0), (6, 2, 3), call=lambda m, x: _first(m(x))),
    LayerCase("gru_2layers_bidirectional",
              lambda dt: nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=dt, generator=0), (4, 2, 3),
              call=lambda m, x: _first(m(x))),
    LayerCase("residual_mlp", lambda dt: nn.Sequential(nn.Linear(4, 4, dtype=dt, generator=0), nn.Tanh(),
                                                      nn.Residual(nn.Linear(4, 4, dtype=dt, generator=1))),
              (3, 4)),
] + [LayerCase(f"activation_{name}", lambda dt, name=name: nn.get_activation(name), (4, 5))
     for name in nn.activation_names()]


def _inputs(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if case.integer_input:
        return rng.integers(0, case.integer_input, size=case.shape)
    return rng.standard_normal(case.shape).astype(dtype)


def run_layer(case: LayerCase, device: str, dtype: Any = np.float64) -> dict:
    """Forward, input and parameter gradients of one layer case on ``device``, as host arrays."""
    module = case.make(dtype)
    module.to(device)
    module.train(case.train)
    x_host = _inputs(case, dtype)
    x = rg.tensor(x_host, device=device, requires_grad=not case.integer_input)
    out = case.call(module, x)
    assert out.device == backend.parse_device(device).split(":")[0], f"{case.name}: output on {out.device}"
    cot = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    out.backward(rg.tensor(cot, device=device))
    result = {"out": out.numpy()}
    if not case.integer_input:
        result["grad:x"] = x.grad.numpy()
    for name, p in module.named_parameters():
        assert p.device == out.device
        result["grad:" + name] = p.grad.numpy()
    for name, b in module.named_buffers():
        result["buffer:" + name] = b.numpy()
    return result


@dataclass
class LossCase:
    name: str
    fn: Callable[..., Any]
    prediction: Callable[[Any], np.ndarray]     # rng -> prediction
    target: Callable[[Any], np.ndarray]         # rng -> target


def _probs(rng, shape):
    return 1.0 / (1.0 + np.exp(-rng.standard_normal(shape)))


F = rg.nn.functional if hasattr(rg.nn, "functional") else None
L = rg.nn.losses if hasattr(rg.nn, "losses") else None


def _losses():
    from retrograd.nn import losses as ls
    return [
        LossCase("half_sse", ls.half_sse, lambda r: r.standard_normal((5, 3)), lambda r: r.standard_normal((5, 3))),
        LossCase("mse", ls.mse_loss, lambda r: r.standard_normal((5, 3)), lambda r: r.standard_normal((5, 3))),
        LossCase("mse_sample_weight", lambda y, t: ls.mse_loss(y, t, sample_weight=np.arange(1.0, 6.0)),
                 lambda r: r.standard_normal((5, 3)), lambda r: r.standard_normal((5, 3))),
        LossCase("l1", ls.l1_loss, lambda r: r.standard_normal((5, 3)), lambda r: r.standard_normal((5, 3))),
        LossCase("huber", ls.huber_loss, lambda r: 2 * r.standard_normal((5, 3)), lambda r: r.standard_normal((5, 3))),
        LossCase("cross_entropy_index", ls.cross_entropy, lambda r: r.standard_normal((6, 4)),
                 lambda r: r.integers(0, 4, 6)),
        LossCase("cross_entropy_index_sum", lambda y, t: ls.cross_entropy(y, t, reduction="sum"),
                 lambda r: r.standard_normal((6, 4)), lambda r: r.integers(0, 4, 6)),
        LossCase("cross_entropy_index_none", lambda y, t: ls.cross_entropy(y, t, reduction="none"),
                 lambda r: r.standard_normal((6, 4)), lambda r: r.integers(0, 4, 6)),
        LossCase("cross_entropy_weighted_smoothed",
                 lambda y, t: ls.cross_entropy(y, t, weight=np.array([1.0, 2.0, 0.5, 1.5]), label_smoothing=0.1),
                 lambda r: r.standard_normal((6, 4)), lambda r: r.integers(0, 4, 6)),
        LossCase("cross_entropy_ignore_index", lambda y, t: ls.cross_entropy(y, t, ignore_index=2),
                 lambda r: r.standard_normal((6, 4)), lambda r: r.integers(0, 4, 6)),
        LossCase("cross_entropy_spatial", ls.cross_entropy, lambda r: r.standard_normal((2, 4, 3, 3)),
                 lambda r: r.integers(0, 4, (2, 3, 3))),
        LossCase("cross_entropy_probabilities", ls.cross_entropy, lambda r: r.standard_normal((5, 3)),
                 lambda r: np.random.default_rng(9).dirichlet(np.ones(3), 5)),
        LossCase("nll", lambda y, t: ls.nll_loss(rg.log_softmax(y, axis=1), t), lambda r: r.standard_normal((6, 4)),
                 lambda r: r.integers(0, 4, 6)),
        LossCase("bce", ls.binary_cross_entropy, lambda r: _probs(r, (5, 2)), lambda r: _probs(r, (5, 2))),
        LossCase("bce_with_logits_pos_weight",
                 lambda y, t: ls.binary_cross_entropy_with_logits(y, t, pos_weight=np.array([2.0, 0.5])),
                 lambda r: r.standard_normal((5, 2)), lambda r: (r.random((5, 2)) > 0.5).astype(float)),
        LossCase("kl_div_batchmean", lambda y, t: ls.kl_div(rg.log_softmax(y, axis=1), t, reduction="batchmean"),
                 lambda r: r.standard_normal((4, 3)), lambda r: np.random.default_rng(3).dirichlet(np.ones(3), 4)),
    ]


LOSSES = _losses()


def _on(device, value, dtype):
    """A loss argument on ``device``: float arrays in ``dtype``, class indices as they are."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        value = value.astype(dtype)
    return backend.to_device(value, device)


def run_loss(case: LossCase, device: str, dtype: Any = np.float64) -> dict:
    """The loss value and the prediction's gradient on ``device``, as host arrays."""
    rng = np.random.default_rng(0)
    pred = rg.tensor(case.prediction(rng).astype(dtype), device=device, requires_grad=True)
    target = _on(device, case.target(rng), dtype)
    loss = case.fn(pred, target)
    assert loss.device == pred.device, f"{case.name}: loss on {loss.device}"
    cot = np.random.default_rng(2).standard_normal(loss.shape).astype(loss.dtype)
    loss.backward(rg.tensor(cot, device=device))
    return {"loss": loss.numpy(), "grad": pred.grad.numpy()}
