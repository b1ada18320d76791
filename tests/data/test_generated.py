"""Generated classics: exact targets and shapes; two spirals as in Lang & Witbrock 1988."""
import numpy as np
import pytest

import retrograd as rg


def test_xor_order_and_targets():
    X, y = rg.data.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y.ravel(), [0, 1, 1, 0])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_parity_is_odd_count(n):
    X, y = rg.data.parity(n)
    assert X.shape == (2 ** n, n) and y.shape == (2 ** n, 1)
    np.testing.assert_array_equal(y.ravel(), X.sum(axis=1) % 2)
    assert len(np.unique(X, axis=0)) == 2 ** n


def test_encoder_is_identity():
    X, y = rg.data.encoder(8)
    np.testing.assert_array_equal(X, np.eye(8))
    np.testing.assert_array_equal(y, np.eye(8))


def test_symmetry_six_bits_has_eight_palindromes():
    X, y = rg.data.symmetry(6)
    assert X.shape == (64, 6) and int(y.sum()) == 8
    for row, t in zip(X, y.ravel()):
        assert t == float(list(row) == list(row[::-1]))


def test_two_spirals_lang_witbrock_points():
    X, y = rg.data.two_spirals()
    assert X.shape == (194, 2) and y.sum() == 97
    np.testing.assert_allclose(X[0], [0.0, 6.5])            # i=0: radius 6.5, angle 0
    i = 96
    r = 6.5 * (104 - i) / 104
    np.testing.assert_allclose(X[96], [r * np.sin(i * np.pi / 16), r * np.cos(i * np.pi / 16)])
    np.testing.assert_allclose(X[97:], -X[:97])             # second spiral: rotated by pi
    np.testing.assert_array_equal(y[:97], 1)
    np.testing.assert_array_equal(y[97:], 0)


@pytest.mark.parametrize("fn,arg", [(rg.data.parity, 0), (rg.data.encoder, 1), (rg.data.symmetry, 1)])
def test_bad_sizes_rejected(fn, arg):
    with pytest.raises(ValueError):
        fn(arg)


def test_datasets_alias():
    assert rg.datasets is rg.data
