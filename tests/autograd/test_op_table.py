"""Every op in the table: forward against NumPy, gradients against float64 finite differences
to second order on hypothesis-drawn shapes, and gradients against torch.autograd."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import retrograd as rg

from .op_cases import CASES, draw_inputs_of

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def draw_inputs(data, case):
    seed = data.draw(st.integers(0, 2 ** 31 - 1), label="seed")
    rng = np.random.default_rng(seed)
    if case.shapes == "broadcast":
        shapes = data.draw(hnp.mutually_broadcastable_shapes(
            num_shapes=case.arity, min_dims=0, max_dims=3, min_side=0, max_side=3), label="shapes")
        shapes = shapes.input_shapes
    elif case.shapes == "reduce":
        shapes = (data.draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=3)),)
    elif case.shapes == "fixed":
        shapes = case.fixed_shapes
    else:
        shapes = (data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)),)
    return draw_inputs_of(rng, case, shapes)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_forward_matches_numpy(case, data):
    inputs = draw_inputs(data, case)
    out = case.fn(*[rg.tensor(x) for x in inputs])
    expected = case.ref(*inputs)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert out.shape == np.shape(expected)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@SETTINGS
@given(data=st.data())
def test_gradients_match_finite_differences(case, data):
    inputs = draw_inputs(data, case)
    assert rg.gradcheck(case.fn, inputs, order=case.order)


@pytest.mark.parametrize("case", [c for c in CASES if c.torch_fn is not None], ids=lambda c: c.name)
@settings(max_examples=4, deadline=None, derandomize=True)
@given(data=st.data())
def test_gradients_match_torch(case, data):
    torch = pytest.importorskip("torch")
    inputs = draw_inputs(data, case)
    xs = [rg.tensor(x, requires_grad=True) for x in inputs]
    out = case.fn(*xs)
    cot = np.random.default_rng(1).standard_normal(out.shape)
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    tout = case.torch_fn(*ts)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-13)
    if out.requires_grad:
        out.backward(cot)
    tout.backward(torch.tensor(cot))
    for x, t in zip(xs, ts):
        ours = x.grad.numpy() if x.grad is not None else np.zeros(x.shape)
        theirs = t.grad.numpy() if t.grad is not None else np.zeros(x.shape)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_gradcheck_reports_the_worst_element():
    wrong = rg.autograd.ops.Op("wrong_square", lambda x: x * x)
    wrong.defvjp(lambda m, needs, g, out, x: (g * x,))  # missing the factor 2
    with pytest.raises(rg.GradcheckError, match=r"input 0 at index \(1,\): analytic .* numerical"):
        rg.gradcheck(lambda x: wrong(x), [np.array([0.1, 2.0])])


def test_gradcheck_catches_a_wrong_second_derivative():
    # first derivative right (3x^2), but written so that its own derivative is wrong
    cube = rg.autograd.ops.Op("cube_bad_hessian", lambda x: x ** 3)
    cube.defvjp(lambda m, needs, g, out, x: (g * 3 * rg.Tensor._wrap(np.asarray(x.data if
                                                isinstance(x, rg.Tensor) else x)) ** 2,))
    x = [np.array([0.7, -1.2])]
    assert rg.gradcheck(lambda t: cube(t), x, order=1)
    with pytest.raises(rg.GradcheckError, match="gradient mismatch"):
        rg.gradcheck(lambda t: cube(t), x, order=2)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(data=st.data())
def test_replayed_gradients_equal_the_engine(case, data):
    """A traced step hands each VJP rule only what its bytecode reads (Op.vjp_reads), None for the
    rest: the replay's gradients must still be the engine's, bit for bit."""
    from retrograd.accel.trace import NotTraceable, trace
    inputs = draw_inputs(data, case)
    xs = [rg.tensor(x, requires_grad=True) for x in inputs]
    cot = rg.tensor(np.random.default_rng(2).standard_normal(np.shape(case.ref(*inputs))))

    def loss():
        return rg.sum(case.fn(*xs) * cot)
    try:
        value, program = trace(loss, (), xs)
    except NotTraceable:
        return                               # e.g. an op whose output is not differentiable
    if not value.requires_grad:
        return
    value.backward()
    replayed, grads = program.run()
    assert replayed == value.data
    for x, g in zip(xs, grads):
        if x.grad is None:
            assert g is None or not np.any(g)
        else:
            np.testing.assert_array_equal(g, x.grad.data)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=3, deadline=None, derandomize=True)
@given(data=st.data())
def test_accelerated_and_reference_give_the_same_bits(case, data):
    """Every row with acceleration on and off (``rg.accel.enabled``): the same forward and gradients, bit
    for bit (the table's ops have no faster arithmetic; indexing's lazy cotangents must change nothing)."""
    inputs = draw_inputs(data, case)
    cot = np.random.default_rng(3).standard_normal(np.shape(case.ref(*inputs)))
    runs = []
    for on in (True, False):
        with rg.accel.enabled(on):
            xs = [rg.tensor(x, requires_grad=True) for x in inputs]
            out = case.fn(*xs)
            if out.requires_grad:
                (out * rg.tensor(cot)).sum().backward()
        runs.append([out.numpy()] + [None if x.grad is None else x.grad.numpy() for x in xs])
    for a, b in zip(*runs):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
