"""The table of op cases: one row per op, with its NumPy reference, torch equivalent and input domain.

Each row says how to draw inputs (shape family and value domain, kept away
from kinks and singularities) so that one checker can run every op forward
against NumPy, through float64 finite differences to second order, and
against torch.autograd.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import retrograd as rg


@dataclass
class OpCase:
    name: str
    fn: Callable                 # on retrograd tensors
    ref: Callable                # on NumPy arrays (forward reference)
    torch_fn: Callable = None    # on torch tensors (None: no torch equivalent)
    arity: int = 1
    shapes: str = "unary"        # unary | broadcast | reduce | matmul | fixed
    domain: str = "any"          # any | positive | nonzero | distinct | unit
    fixed_shapes: tuple = ()
    order: int = 2               # highest derivative order checked
    extra: dict = field(default_factory=dict)


def _t():
    import torch
    return torch


def _axis_cases():
    """Reductions over no axis, one axis, the last axis and a tuple, with and without keepdims."""
    rows = []
    specs = [("sum", rg.sum, np.sum, "sum"), ("mean", rg.mean, np.mean, "mean"),
             ("max", rg.max, np.max, "amax"), ("min", rg.min, np.min, "amin"),
             ("prod", rg.prod, np.prod, "prod"),
             ("logsumexp", rg.logsumexp, None, "logsumexp")]
    for name, fn, ref, tname in specs:
        for axis, keep in [(None, False), (0, False), (-1, True), ((0, 1), False)]:
            def f(x, fn=fn, axis=axis, keep=keep):
                return fn(x, axis=axis, keepdims=keep)

            def r(x, ref=ref, axis=axis, keep=keep, name=name):
                if name == "logsumexp":
                    m = np.max(x, axis=axis, keepdims=True)
                    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
                    return out if keep else np.squeeze(out, axis=axis)
                return ref(x, axis=axis, keepdims=keep)

            def tf(x, tname=tname, axis=axis, keep=keep):
                torch = _t()
                dims = tuple(range(x.ndim)) if axis is None else axis
                if tname == "prod":
                    if axis is None:
                        return torch.prod(x)
                    out = x
                    for d in sorted(np.atleast_1d(np.array(axis) % x.ndim), reverse=True):
                        out = torch.prod(out, dim=int(d), keepdim=keep)
                    return out
                return getattr(torch, tname)(x, dim=dims, keepdim=keep)
            domain = "nonzero" if name == "prod" else "distinct" if name in ("max", "min") else "any"
            rows.append(OpCase(f"{name}[axis={axis},keep={keep}]", f, r, tf, shapes="reduce",
                               domain=domain))
    for ddof in (0, 1):
        rows.append(OpCase(f"var[ddof={ddof}]", lambda x, d=ddof: rg.var(x, axis=-1, ddof=d),
                           lambda x, d=ddof: np.var(x, axis=-1, ddof=d),
                           lambda x, d=ddof: _t().var(x, dim=-1, correction=d), shapes="fixed",
                           fixed_shapes=((3, 4),)))
        rows.append(OpCase(f"std[ddof={ddof}]", lambda x, d=ddof: rg.std(x, axis=0, ddof=d),
                           lambda x, d=ddof: np.std(x, axis=0, ddof=d),
                           lambda x, d=ddof: _t().std(x, dim=0, correction=d), shapes="fixed",
                           fixed_shapes=((4, 3),)))
    return rows


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_gelu(x):
    from scipy.special import erf
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


CASES = [
    # ---------------------------------------------------------- arithmetic (broadcasting)
    OpCase("add", lambda a, b: a + b, np.add, lambda a, b: a + b, 2, "broadcast"),
    OpCase("sub", lambda a, b: a - b, np.subtract, lambda a, b: a - b, 2, "broadcast"),
    OpCase("mul", lambda a, b: a * b, np.multiply, lambda a, b: a * b, 2, "broadcast"),
    OpCase("div", lambda a, b: a / b, np.divide, lambda a, b: a / b, 2, "broadcast", "nonzero"),
    OpCase("pow", lambda a, b: a ** b, np.power, lambda a, b: a ** b, 2, "broadcast", "positive"),
    OpCase("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, lambda a: a ** 3),
    OpCase("pow_square", lambda a: a ** 2, lambda a: a ** 2, lambda a: a ** 2),
    OpCase("pow_half", lambda a: a ** 0.5, np.sqrt, lambda a: a ** 0.5, domain="positive"),
    OpCase("rsub_scalar", lambda a: 2.0 - a, lambda a: 2.0 - a, lambda a: 2.0 - a),
    OpCase("rdiv_scalar", lambda a: 1.5 / a, lambda a: 1.5 / a, lambda a: 1.5 / a, domain="nonzero"),
    OpCase("neg", lambda a: -a, np.negative, lambda a: -a),
    # ---------------------------------------------------------- transcendental
    OpCase("exp", rg.exp, np.exp, lambda a: a.exp()),
    OpCase("log", rg.log, np.log, lambda a: a.log(), domain="positive"),
    OpCase("log1p", rg.log1p, np.log1p, lambda a: a.log1p(), domain="positive"),
    OpCase("sqrt", rg.sqrt, np.sqrt, lambda a: a.sqrt(), domain="positive"),
    OpCase("sin", rg.sin, np.sin, lambda a: a.sin()),
    OpCase("cos", rg.cos, np.cos, lambda a: a.cos()),
    OpCase("tanh", rg.tanh, np.tanh, lambda a: a.tanh()),
    OpCase("sigmoid", rg.sigmoid, _np_sigmoid, lambda a: a.sigmoid()),
    OpCase("softplus", rg.softplus, lambda a: np.log1p(np.exp(a)),
           lambda a: _t().nn.functional.softplus(a)),
    OpCase("erf", rg.erf, lambda a: __import__("scipy.special").special.erf(a), lambda a: a.erf()),
    OpCase("gelu", rg.gelu, _np_gelu, lambda a: _t().nn.functional.gelu(a)),
    OpCase("gelu_tanh", lambda a: rg.gelu(a, approximate="tanh"),
           lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3))),
           lambda a: _t().nn.functional.gelu(a, approximate="tanh")),
    # ---------------------------------------------------------- piecewise (inputs away from kinks)
    OpCase("abs", rg.abs, np.abs, lambda a: a.abs(), domain="nonzero"),
    OpCase("sign", rg.sign, np.sign, lambda a: a.sign(), domain="nonzero"),
    OpCase("relu", rg.relu, lambda a: np.maximum(a, 0), lambda a: a.relu(), domain="nonzero"),
    OpCase("leaky_relu", lambda a: rg.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a),
           lambda a: _t().nn.functional.leaky_relu(a, 0.1), domain="nonzero"),
    OpCase("elu", lambda a: rg.elu(a, 1.3), lambda a: np.where(a > 0, a, 1.3 * np.expm1(a)),
           lambda a: _t().nn.functional.elu(a, 1.3), domain="nonzero"),
    OpCase("maximum", rg.maximum, np.maximum, lambda a, b: _t().maximum(a, b), 2, "broadcast", "distinct"),
    OpCase("minimum", rg.minimum, np.minimum, lambda a, b: _t().minimum(a, b), 2, "broadcast", "distinct"),
    OpCase("clip", lambda a: rg.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
           lambda a: a.clamp(-0.5, 0.5), domain="off_bounds"),
    OpCase("where", lambda a, b: rg.where(a > 0, a * 2, b), lambda a, b: np.where(a > 0, a * 2, b),
           lambda a, b: _t().where(a > 0, a * 2, b), 2, "broadcast", "nonzero"),
    # ---------------------------------------------------------- softmax family
    OpCase("softmax", lambda a: rg.softmax(a, axis=-1), lambda a: _np_softmax(a, -1),
           lambda a: a.softmax(-1), shapes="reduce"),
    OpCase("softmax_axis0", lambda a: rg.softmax(a, axis=0), lambda a: _np_softmax(a, 0),
           lambda a: a.softmax(0), shapes="reduce"),
    OpCase("log_softmax", lambda a: rg.log_softmax(a, axis=-1), lambda a: np.log(_np_softmax(a, -1)),
           lambda a: a.log_softmax(-1), shapes="reduce"),
    # ---------------------------------------------------------- matmul, every rank combination
    *[OpCase(f"matmul{sa}x{sb}", rg.matmul, np.matmul, lambda a, b: a @ b, 2, "fixed",
             fixed_shapes=(sa, sb))
      for sa, sb in [((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)),
                     ((2, 2, 3), (2, 3, 4)), ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)),
                     ((2, 2, 3), (3,)), ((1, 2, 3), (2, 3, 2)), ((2, 3), (2, 3, 2))]],
    *[OpCase(f"linear{sx}x{sw}", lambda x, w, b: rg.autograd.ops.OPS["linear"](x, w, b),
             lambda x, w, b: x @ w + b, lambda x, w, b: x @ w + b, 3, "fixed", fixed_shapes=(sx, sw, sb))
      for sx, sw, sb in [((3, 4), (4, 2), (2,)), ((2, 3, 4), (4, 2), (2,)), ((4,), (4, 2), (2,)),
                         ((3, 4), (4, 2), (3, 2))]],
    # ---------------------------------------------------------- shapes
    OpCase("reshape", lambda a: rg.reshape(a, (2, -1)), lambda a: a.reshape(2, -1),
           lambda a: a.reshape(2, -1), shapes="fixed", fixed_shapes=((2, 3, 2),)),
    OpCase("transpose", lambda a: rg.transpose(a, (1, 2, 0)), lambda a: a.transpose(1, 2, 0),
           lambda a: a.permute(1, 2, 0), shapes="fixed", fixed_shapes=((2, 3, 2),)),
    OpCase("T", lambda a: a.T, lambda a: a.T, lambda a: a.T, shapes="fixed", fixed_shapes=((2, 3),)),
    OpCase("broadcast_to", lambda a: rg.broadcast_to(a, (2, 3, 4)),
           lambda a: np.broadcast_to(a, (2, 3, 4)), lambda a: a.expand(2, 3, 4), shapes="fixed",
           fixed_shapes=((3, 1),)),
    OpCase("squeeze", lambda a: rg.squeeze(a, 1), lambda a: a.squeeze(1), lambda a: a.squeeze(1),
           shapes="fixed", fixed_shapes=((3, 1, 2),)),
    OpCase("unsqueeze", lambda a: rg.unsqueeze(a, -1), lambda a: a[..., None],
           lambda a: a.unsqueeze(-1), shapes="fixed", fixed_shapes=((3, 2),)),
    OpCase("flatten", lambda a: rg.flatten(a, 1), lambda a: a.reshape(a.shape[0], -1),
           lambda a: a.flatten(1), shapes="fixed", fixed_shapes=((2, 3, 2),)),
    OpCase("concatenate", lambda a, b: rg.concatenate([a, b, a], axis=1),
           lambda a, b: np.concatenate([a, b, a], axis=1), lambda a, b: _t().cat([a, b, a], 1), 2,
           "fixed", fixed_shapes=((2, 3), (2, 1))),
    OpCase("stack", lambda a, b: rg.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1),
           lambda a, b: _t().stack([a, b], 1), 2, "fixed", fixed_shapes=((2, 3), (2, 3))),
    OpCase("split", lambda a: rg.split(a, [1, 3], axis=1)[1] * 2 + rg.split(a, 2, axis=1)[0].sum(),
           lambda a: a[:, 1:4] * 2 + a[:, :2].sum(),
           lambda a: _t().split(a, [1, 3], 1)[1] * 2 + _t().split(a, 2, 1)[0].sum(),
           shapes="fixed", fixed_shapes=((2, 4),)),
    OpCase("flip", lambda a: rg.flip(a, 1), lambda a: np.flip(a, 1), lambda a: a.flip(1),
           shapes="fixed", fixed_shapes=((2, 3),)),
    OpCase("pad", lambda a: rg.pad(a, ((1, 0), (2, 1)), value=0.5),
           lambda a: np.pad(a, ((1, 0), (2, 1)), constant_values=0.5),
           lambda a: _t().nn.functional.pad(a, (2, 1, 1, 0), value=0.5), shapes="fixed",
           fixed_shapes=((2, 3),)),
    OpCase("getitem_basic", lambda a: a[1:, ::2, None, 0], lambda a: a[1:, ::2, None, 0],
           lambda a: a[1:, ::2, None, 0], shapes="fixed", fixed_shapes=((3, 4, 2),)),
    OpCase("getitem_repeated", lambda a: a[np.array([0, 2, 0, 0]), 1:],
           lambda a: a[np.array([0, 2, 0, 0]), 1:], lambda a: a[[0, 2, 0, 0], 1:], shapes="fixed",
           fixed_shapes=((3, 4),)),
    OpCase("getitem_mask", lambda a: a[a.data > 0], lambda a: a[a > 0], lambda a: a[a > 0],
           shapes="fixed", fixed_shapes=((3, 4),), domain="nonzero"),
    OpCase("take_along_axis",
           lambda a: rg.take_along_axis(a, np.array([[0, 2, 2], [1, 1, 0]]), axis=1),
           lambda a: np.take_along_axis(a, np.array([[0, 2, 2], [1, 1, 0]]), axis=1),
           lambda a: _t().gather(a, 1, _t().tensor([[0, 2, 2], [1, 1, 0]])), shapes="fixed",
           fixed_shapes=((2, 4),)),
    *_axis_cases(),
]


def draw_values(rng, shape, domain):
    """float64 values in the case's domain, kept away from kinks and singularities."""
    u = rng.uniform(-1.5, 1.5, size=shape)
    if domain == "positive":
        return 0.2 + np.abs(u)
    if domain == "nonzero":
        return np.sign(u + (u == 0)) * (0.2 + np.abs(u))
    if domain == "off_bounds":  # clip at +-0.5: stay 0.1 away from both bounds
        return np.where(np.abs(np.abs(u) - 0.5) < 0.1, u + 0.25, u)
    return u


def draw_inputs_of(rng, case, shapes):
    """The case's float64 inputs of these shapes, in its domain (``distinct``: no ties)."""
    inputs = [draw_values(rng, s, case.domain) for s in shapes]
    if case.domain == "distinct" and len(inputs) == 2:
        # keep |a - b| >= 0.2 so maximum/minimum never sit on a tie
        diff = inputs[0] - inputs[1]
        inputs[0] = inputs[0] + np.where(np.abs(diff) < 0.2, 0.4 * np.sign(diff + (diff == 0)), 0)
    if case.domain == "distinct" and len(inputs) == 1:
        flat = rng.permutation(inputs[0].size).astype(np.float64)
        inputs[0] = (flat / max(1, inputs[0].size) + rng.uniform(0, 0.01, inputs[0].size)).reshape(shapes[0])
    return inputs
