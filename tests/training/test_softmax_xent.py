"""The fused softmax cross-entropy primitive equals the composed loss, to second order."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.autograd.ops.softmax_xent import softmax_cross_entropy


@pytest.mark.parametrize("n, c, dtype", [(5, 4, np.float64), (32, 10, np.float32), (1, 2, np.float64)])
def test_values_and_gradients_match_composed_cross_entropy(n, c, dtype):
    rng = np.random.default_rng(n)
    z = rg.tensor(rng.normal(0, 3, size=(n, c)).astype(dtype), requires_grad=True)
    t = rng.integers(0, c, n)
    fused = softmax_cross_entropy(z, t)
    ref = rg.nn.functional.cross_entropy(z, rg.tensor(t), reduction="none")
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(fused.data, ref.data, rtol=tol, atol=tol)
    assert fused.dtype == dtype
    g1 = rg.autograd_grad(rg.mean(fused), z)
    g2 = rg.autograd_grad(rg.nn.functional.cross_entropy(z, rg.tensor(t)), z)
    np.testing.assert_allclose(g1.data, g2.data, rtol=tol, atol=tol)


def test_gradcheck_to_second_order():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 6)
    rg.gradcheck(lambda a: softmax_cross_entropy(a, t), [rng.normal(size=(6, 4))], order=2)


def test_large_logits_stay_finite():
    z = rg.tensor(np.array([[1000.0, 0.0], [0.0, -1000.0]]), requires_grad=True)
    loss = softmax_cross_entropy(z, np.array([1, 0]))
    np.testing.assert_allclose(loss.data, [1000.0, 0.0])
    rg.sum(loss).backward()
    np.testing.assert_allclose(z.grad.data, [[1.0, -1.0], [0.0, 0.0]])


def test_bad_inputs_name_the_shapes():
    with pytest.raises(rg.OpError, match=r"\(N, C\).*\(3, 2\)"):
        softmax_cross_entropy(rg.tensor(np.zeros((3, 2))), np.zeros(4, dtype=np.int64))
    with pytest.raises(rg.OpError, match="integer class indices"):
        softmax_cross_entropy(rg.tensor(np.zeros((3, 2))), np.zeros(3))


def test_fit_with_fused_loss_matches_named_loss():
    from .conftest import blobs, make_mlp, weights
    X, y = blobs(n=40)
    results = []
    for loss in ("cross_entropy", lambda out, t: rg.mean(softmax_cross_entropy(out, t))):
        model = make_mlp([4, 6, 3], dtype=np.float64)
        rg.fit(model, loss, rg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
               (X.astype(np.float64), y), epochs=3, batch_size=8, quiet=True)
        results.append(weights(model))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduction_inside_the_primitive_equals_reducing_afterwards(reduction):
    rng = np.random.default_rng(3)
    z = rg.tensor(rng.normal(0, 2, size=(7, 5)), requires_grad=True)
    t = rng.integers(0, 5, 7)
    fused = softmax_cross_entropy(z, t, reduction=reduction)
    rows = softmax_cross_entropy(z, t)
    ref = rg.mean(rows) if reduction == "mean" else rg.sum(rows)
    assert fused.shape == ()
    np.testing.assert_allclose(fused.data, ref.data, rtol=1e-14)
    np.testing.assert_allclose(rg.autograd_grad(fused, z).data, rg.autograd_grad(ref, z).data, rtol=1e-13)
    rg.gradcheck(lambda a: softmax_cross_entropy(a, t, reduction=reduction), [z.data], order=2)


def test_saved_softmax_survives_a_retained_second_backward():
    rng = np.random.default_rng(4)
    z = rg.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    loss = softmax_cross_entropy(z, np.array([0, 2, 1, 1]), reduction="mean")
    loss.backward(retain_graph=True)
    first = z.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(z.grad.data, 2 * first, rtol=1e-15)


def test_unknown_reduction_is_named():
    with pytest.raises(rg.OpError, match="reduction must be one of"):
        softmax_cross_entropy(rg.tensor(np.zeros((3, 2))), np.zeros(3, dtype=np.int64), reduction="avg")
