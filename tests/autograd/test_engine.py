"""The backward engine: accumulation, graph freeing, higher order, grad modes, deep graphs, errors."""
import numpy as np
import pytest

import retrograd as rg


def test_gradient_accumulates_when_a_tensor_is_used_many_times():
    x = rg.tensor([1.5, -2.0], dtype=np.float64, requires_grad=True)
    y = (x * x + x * 3.0 + rg.sin(x)).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.data + 3 + np.cos(x.data), rtol=1e-15)


def test_grad_accumulates_across_backward_calls_until_reset():
    x = rg.tensor([2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 4).sum().backward()
    assert x.grad.item() == 7.0
    x.grad = None
    (x * 5).sum().backward()
    assert x.grad.item() == 5.0


def test_chain_of_ten_thousand_ops_needs_no_recursion():
    x = rg.tensor(1.0, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-10)


def test_second_backward_through_freed_graph_raises_clearly():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    y = (rg.exp(x) * 2).sum()
    y.backward()
    with pytest.raises(rg.GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = rg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = (rg.exp(x) * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp(x.data))


def test_backward_frees_saved_inputs():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    h = rg.tanh(x)
    y = (h * h).sum()
    y.backward()
    assert h._inputs is None and y._inputs is None


def test_create_graph_gives_derivatives_of_any_order():
    x = rg.tensor([0.3, -1.1], dtype=np.float64, requires_grad=True)
    y = (x ** 4).sum()
    (g,) = rg.autograd_grad(y, [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), 4 * x.data ** 3)
    (h,) = rg.autograd_grad(g.sum(), [x], create_graph=True)
    np.testing.assert_allclose(h.numpy(), 12 * x.data ** 2)
    (t,) = rg.autograd_grad(h.sum(), [x], create_graph=True)
    np.testing.assert_allclose(t.numpy(), 24 * x.data)
    (q,) = rg.autograd_grad(t.sum(), [x])
    np.testing.assert_allclose(q.numpy(), [24.0, 24.0])


def test_backward_without_create_graph_records_nothing():
    x = rg.tensor([0.5, 1.5], requires_grad=True)
    (rg.tanh(x) * x).sum().backward()
    assert x.grad.is_leaf and not x.grad.requires_grad


def test_backward_with_create_graph_records_the_gradient():
    x = rg.tensor([0.5, 1.5], dtype=np.float64, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.data)


def test_no_grad_context_and_decorator():
    x = rg.tensor([1.0], requires_grad=True)
    with rg.no_grad():
        y = x * 2
        with rg.enable_grad():
            z = x * 3
    assert not y.requires_grad and z.requires_grad

    @rg.no_grad()
    def double(t):
        return t * 2
    assert not double(x).requires_grad
    assert rg.is_grad_enabled()


def test_retain_grad_keeps_an_intermediate_gradient():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.data)


def test_detach_cuts_the_graph():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), x.data)


def test_gradient_of_broadcast_operand_is_summed_back_to_its_shape():
    a = rg.tensor(np.ones((3, 1, 2)), requires_grad=True)
    b = rg.tensor(np.arange(4.0).reshape(4, 1), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1, 2) and b.grad.shape == (4, 1)
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1, 2), 6.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full((4, 1), 6.0))


def test_leaf_gradient_keeps_the_leaf_dtype():
    w = rg.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    x = np.array([0.5, 0.25], dtype=np.float64)  # promotes the product to float64
    (w * x).sum().backward()
    assert w.grad.dtype == np.float32


def test_astype_passes_gradients_back_in_the_source_dtype():
    x = rg.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = rg.astype(x, np.float32)
    assert y.dtype == np.float32
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


# ---------------------------------------------------------------- errors name the problem


def test_shape_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(rg.OpError, match=r"add: .*\(2, 3\).*\(4,\)"):
        rg.ones(2, 3) + rg.ones(4)
    with pytest.raises(rg.OpError, match=r"matmul: .*\(2, 3\).*\(4, 5\)"):
        rg.ones(2, 3) @ rg.ones(4, 5)


def test_backward_on_non_scalar_says_what_to_pass():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\) needs .*gradient="):
        (x * 2).backward()


def test_backward_with_wrong_gradient_shape_is_rejected():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient has shape"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_tensor_without_graph_explains():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        rg.tensor([1.0]).sum().backward()


def test_only_float_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        rg.tensor([1, 2], requires_grad=True)


def test_non_numeric_data_is_rejected():
    with pytest.raises(TypeError, match="dtype"):
        rg.tensor(["a", "b"])


def test_bad_axis_and_reshape_are_named():
    with pytest.raises(rg.OpError, match="sum: axis 2 is out of range"):
        rg.ones(2, 3).sum(axis=2)
    with pytest.raises(rg.OpError, match=r"reshape: cannot reshape .*\(2, 3\).* into \(4,\)"):
        rg.ones(2, 3).reshape(4)


# ---------------------------------------------------------------- dtypes and interop


def test_default_dtype_and_promotion():
    assert rg.tensor([1.0]).dtype == np.float32
    assert rg.tensor([1]).dtype == np.int64
    assert rg.tensor(np.array([1.0])).dtype == np.float64
    assert (rg.tensor([1.0]) * 2.5).dtype == np.float32  # Python scalars never upcast
    assert (rg.tensor([1.0]) + rg.tensor([1.0], dtype=np.float64)).dtype == np.float64
    rg.set_default_dtype(np.float64)
    try:
        assert rg.zeros(2).dtype == np.float64
    finally:
        rg.set_default_dtype(np.float32)
    with pytest.raises(TypeError):
        rg.set_default_dtype(np.int32)


def test_numpy_interop():
    x = rg.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, rg.Tensor) and y.requires_grad
    np.testing.assert_array_equal(np.asarray(y), [3.0, 8.0])
    assert float(rg.tensor(2.5)) == 2.5 and rg.tensor([4.0]).item() == 4.0


def test_factories_and_seeded_generator():
    assert rg.zeros(2, 3).shape == (2, 3) and rg.ones((4,)).data.sum() == 4
    assert rg.full((2,), 7.0).data.tolist() == [7.0, 7.0]
    assert rg.arange(5).dtype == np.int64 and rg.arange(0.0, 1.0, 0.5).dtype == np.float32
    rg.manual_seed(3)
    a = rg.randn(4).numpy()
    rg.manual_seed(3)
    b = rg.randn(4).numpy()
    np.testing.assert_array_equal(a, b)
    assert rg.rand(1000).data.min() >= 0 and rg.rand(1000).data.max() < 1


def test_comparisons_carry_no_gradient():
    x = rg.tensor([1.0, -1.0], requires_grad=True)
    mask = x > 0
    assert mask.dtype == bool and not mask.requires_grad


def test_one_hot_and_argmax():
    np.testing.assert_array_equal(rg.one_hot(np.array([2, 0]), 3).numpy(), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(rg.OpError, match=r"labels must lie in \[0, 3\)"):
        rg.one_hot(np.array([3]), 3)
    assert rg.argmax(rg.tensor([[1.0, 5.0, 2.0]]), axis=1).data.tolist() == [1]


def test_extreme_inputs_stay_finite():
    x = rg.tensor([-1e4, 0.0, 1e4], dtype=np.float64, requires_grad=True)
    y = rg.sigmoid(x) + rg.softplus(x) * 1e-4 + rg.log_softmax(x, axis=0)
    assert np.all(np.isfinite(y.numpy()))
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(rg.sigmoid(rg.tensor([-1e4, 1e4])).numpy(), [0.0, 1.0])


def test_iteration_format_and_guarded_assignment():
    t = rg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = [r.numpy().tolist() for r in t]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]
    assert f"{rg.tensor(0.123456):.3f}" == "0.123"
    t[0, 1] = 9.0
    assert t.data[0, 1] == 9.0
    w = rg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place assignment"):
        w[0] = 2.0
    with rg.no_grad():
        w[0] = 2.0
    assert w.item() == 2.0


def test_primitive_that_saves_work_hands_it_to_its_vjp_only_while_recorded():
    from retrograd.autograd.ops.registry import ARRAY_MATH, OPS, primitive
    seen = []

    @primitive(saves=True)
    def _test_square_saving(x):
        return x * x, 2.0 * x

    @_test_square_saving.defvjp
    def _vjp(m, needs, g, out, x, saved=None):
        seen.append(saved)
        return (g * saved,)

    try:
        x = rg.tensor([1.0, -3.0], requires_grad=True)
        y = _test_square_saving(x)
        np.testing.assert_array_equal(y.data, [1.0, 9.0])      # callers see the output alone
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.data, [2.0, -6.0])
        np.testing.assert_array_equal(seen[0], [2.0, -6.0])
        with rg.no_grad():
            assert _test_square_saving(x)._kw is None            # nothing kept when not recorded
        np.testing.assert_array_equal(ARRAY_MATH._test_square_saving(np.array([3.0])), [9.0])
    finally:
        OPS.pop("_test_square_saving", None)
