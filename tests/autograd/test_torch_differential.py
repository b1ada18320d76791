"""Random composite expressions: gradients and Hessian-vector products equal torch's in float64."""
import numpy as np
import pytest

import retrograd as rg

torch = pytest.importorskip("torch")

# (name, retrograd op, torch op, arity): smooth everywhere, so any composition is differentiable
UNARY = [
    ("tanh", rg.tanh, torch.tanh), ("sigmoid", rg.sigmoid, torch.sigmoid), ("sin", rg.sin, torch.sin),
    ("softplus", rg.softplus, torch.nn.functional.softplus),
    ("exp_tanh", lambda a: rg.exp(rg.tanh(a)), lambda a: torch.exp(torch.tanh(a))),
    ("log_softplus", lambda a: rg.log(rg.softplus(a) + 0.5), lambda a: torch.log(torch.nn.functional.softplus(a) + 0.5)),
    ("sqrt_1p_sq", lambda a: rg.sqrt(a * a + 1), lambda a: torch.sqrt(a * a + 1)),
    ("softmax", lambda a: rg.softmax(a, axis=-1), lambda a: torch.softmax(a, -1)),
    ("lse", lambda a: rg.logsumexp(a, axis=-1, keepdims=True), lambda a: torch.logsumexp(a, -1, keepdim=True)),
    ("mean0", lambda a: rg.mean(a, axis=0, keepdims=True), lambda a: a.mean(0, keepdim=True)),
    ("square", lambda a: a ** 2, lambda a: a ** 2),
    ("gelu", rg.gelu, torch.nn.functional.gelu),
]
BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b), ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
]
SHAPES = [(3, 4), (4,), (3, 1), (1, 4)]
WEIGHT_SHAPE = (4, 4)  # the last input: a weight matrix used by the "dense" op, never as an operand


def build(seed):
    """A random expression program: a list of (op index, operand indices) over SHAPES inputs."""
    rng = np.random.default_rng(seed)
    program = []
    n = len(SHAPES)
    for _ in range(10):
        if rng.random() < 0.15:
            program.append(("dense", 0, (int(rng.integers(n)),)))
        elif rng.random() < 0.5:
            program.append(("u", int(rng.integers(len(UNARY))), (int(rng.integers(n)),)))
        else:
            program.append(("b", int(rng.integers(len(BINARY))), tuple(int(i) for i in rng.integers(n, size=2))))
        n += 1
    return program


def run(program, inputs, lib):
    values, weight = list(inputs[:-1]), inputs[-1]
    for kind, k, args in program:
        if kind == "dense":
            a = values[args[0]]
            values.append((rg.tanh if lib == "rg" else torch.tanh)(a @ weight) if a.shape[-1] == 4 else a)
            continue
        table = UNARY if kind == "u" else BINARY
        fn = table[k][1] if lib == "rg" else table[k][2]
        values.append(fn(*[values[i] for i in args]))
    total = 0
    for w, v in enumerate(values[len(SHAPES):]):
        total = total + (v * (0.5 + 0.1 * w)).sum()
    return total


@pytest.mark.parametrize("seed", range(40))
def test_random_expression_gradients_and_hvps_match_torch(seed):
    rng = np.random.default_rng(1000 + seed)
    program = build(seed)
    arrays = [rng.standard_normal(s) for s in SHAPES + [WEIGHT_SHAPE]]
    vectors = [rng.standard_normal(s) for s in SHAPES + [WEIGHT_SHAPE]]

    ours = rg.grad(lambda *xs: run(program, xs, "rg"), argnums=tuple(range(len(arrays))))(*arrays)
    hv = rg.hvp(lambda *xs: run(program, xs, "rg"), tuple(arrays), tuple(vectors))

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = run(program, ts, "torch")
    grads = torch.autograd.grad(out, ts, create_graph=True, allow_unused=True)
    grads = [g if g is not None else torch.zeros_like(t) for g, t in zip(grads, ts)]
    dot = sum((g * torch.tensor(v)).sum() for g, v in zip(grads, vectors))
    thv = torch.autograd.grad(dot, ts, allow_unused=True) if dot.requires_grad else [None] * len(ts)

    for a, g, tg in zip(arrays, ours, grads):
        np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    for h, th, t in zip(hv, thv, ts):
        expected = th.numpy() if th is not None else np.zeros(t.shape)
        np.testing.assert_allclose(h.numpy(), expected, rtol=1e-10, atol=1e-12)
