"""Lazy cotangents of basic indexing (accel/scattered.py): the same gradients as dense ones, through the engine."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.accel.scattered import Scattered, simple_index, through_getitem

rng = np.random.default_rng(4)


@pytest.mark.parametrize("index", [
    -1, 2, (slice(None), 1), (Ellipsis, -2), (1, Ellipsis, slice(4, 0, -2)), (slice(1, None, 2),),
    (0, slice(None), 3), (slice(-3, None), Ellipsis),
])
def test_a_scattered_cotangent_is_the_dense_scatter(index):
    shape = (4, 5, 6)
    values = rng.standard_normal(np.empty(shape)[index].shape)
    expected = np.zeros(shape)
    expected[index] = values
    lazy = through_getitem(values, index, shape)
    assert isinstance(lazy, Scattered)
    np.testing.assert_array_equal(lazy.dense(), expected)
    for perm in [(2, 0, 1), (1, 2, 0), (2, 1, 0)]:
        np.testing.assert_array_equal(lazy.transposed(perm).dense(), expected.transpose(perm))


@pytest.mark.parametrize("index", [None, (np.array([0, 2]),), (True,), (slice(None), None), 7,
                                   (Ellipsis, Ellipsis)])
def test_indices_it_does_not_keep_lazy(index):
    """None, index arrays, booleans and out-of-range ints go the eager way (and raise its errors)."""
    assert simple_index(index, (4, 5, 6)) is None


def test_nested_indexing_composes_into_one_index():
    """x[1][:, 2] as seen from x: (1, slice, 2), no dense array in between."""
    shape = (3, 4, 5)
    inner = through_getitem(np.ones(4), (slice(None), 2), (4, 5))
    outer = through_getitem(inner, 1, shape)
    assert outer.index == (1, slice(0, 4, 1), 2)
    expected = np.zeros(shape)
    expected[1, :, 2] = 1.0
    np.testing.assert_array_equal(outer.dense(), expected)
    g = through_getitem(np.ones(4), (0, slice(None), 2), (2, 4, 5))
    partial = through_getitem(g, (slice(1, 3),), shape)        # not a full slice: made dense first
    expected = np.zeros(shape)
    expected[1, :, 2] = 1.0
    np.testing.assert_array_equal(partial.dense(), expected)


def _grad(build, x0):
    x = rg.tensor(x0.copy(), requires_grad=True)
    build(x).backward()
    return x.grad.numpy()


@pytest.mark.parametrize("build", [
    lambda x: (x[1:3].transpose((2, 0, 1))[..., ::2][0] * 3.0).sum(),
    lambda x: x[-1].sum() + x[0, 2].sum() * 2.0,                  # two lazy shares of x add up
    lambda x: (x.transpose()[1] ** 2).sum(),
    lambda x: (x[1] * x[1]).sum() + x.sum(),                      # lazy meets dense
    lambda x: (x[1:3][1][::-1, 2:] * 2.0).sum(),                    # nested, with a reversed slice
])
def test_the_engine_gives_the_gradients_of_the_dense_scatters(monkeypatch, build):
    """The reference (every getitem's cotangent a dense zeros-and-write, acceleration off) gives the same bits."""
    from retrograd.accel import scattered
    made = []
    real = scattered.through_getitem
    monkeypatch.setattr(scattered, "through_getitem", lambda *a: made.append(1) or real(*a))
    x0 = rng.standard_normal((4, 5, 6))
    lazy = _grad(build, x0)
    assert made                                               # the lazy rule ran
    made.clear()
    with rg.accel.enabled(False):
        eager = _grad(build, x0)
    assert not made
    np.testing.assert_array_equal(lazy, eager)
    assert np.count_nonzero(eager)


def test_a_retained_intermediate_gets_a_dense_grad():
    x = rg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = x.transpose()
    y.retain_grad()
    (y[1] * 2.0).sum().backward()
    assert type(y.grad.numpy()) is np.ndarray and y.grad.shape == (4, 3)
    expected = np.zeros((4, 3))
    expected[1] = 2.0
    np.testing.assert_array_equal(y.grad.numpy(), expected)
    np.testing.assert_array_equal(x.grad.numpy(), expected.T)
