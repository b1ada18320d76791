"""Initialisers: distribution statistics, bounds, reproducibility under a seed, the WORKLOADS Glorot rule."""
import math

import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.nn import init


def _t(*shape, dtype=np.float64):
    return rg.tensor(np.zeros(shape, dtype=dtype))


def test_linear_default_matches_the_workloads_glorot_rule():
    rng = np.random.default_rng(0)
    a = math.sqrt(6 / (64 + 256))
    expected = rng.uniform(-a, a, size=(64, 256)).astype(np.float32)
    m = nn.Linear(64, 256, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(m.weight.data, expected)
    np.testing.assert_array_equal(m.bias.data, 0)
    assert m.weight.dtype == np.float32


def test_workloads_w1_values_from_seed_0():
    rng = np.random.default_rng(0)
    l1 = nn.Linear(2, 2, dtype=np.float64, generator=rng)
    l2 = nn.Linear(2, 1, dtype=np.float64, generator=rng)
    np.testing.assert_array_equal(l1.weight.data, [[0.3354862482481791, -0.5639050832878074],
                                                   [-1.124380644784199, -1.1842605976919982]])
    np.testing.assert_array_equal(l2.weight.data, [[0.886062041929778], [1.1674490706625804]])


def test_manual_seed_reproduces_bit_for_bit():
    rg.manual_seed(123)
    a = nn.Sequential(nn.Linear(5, 7), nn.Conv2d(2, 3, 3), nn.LSTM(3, 4)).state_dict()
    rg.manual_seed(123)
    b = nn.Sequential(nn.Linear(5, 7), nn.Conv2d(2, 3, 3), nn.LSTM(3, 4)).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k].data, b[k].data)
    rg.manual_seed(124)
    c = nn.Linear(5, 7)
    assert not np.array_equal(c.weight.data, a["0.weight"].data)


# name, call, expected (mean, std) or bounds
@pytest.mark.parametrize("name,fill,mean,std,bound", [
    ("uniform_small", lambda t, g: init.uniform_(t, generator=g), 0, 0.3 / math.sqrt(3), 0.3),
    ("normal", lambda t, g: init.normal_(t, 1.0, 2.0, generator=g), 1.0, 2.0, None),
    ("xavier_uniform", lambda t, g: init.xavier_uniform_(t, generator=g), 0,
     math.sqrt(2 / (200 + 300)), math.sqrt(6 / 500)),
    ("xavier_normal", lambda t, g: init.xavier_normal_(t, generator=g), 0, math.sqrt(2 / 500), None),
    ("kaiming_uniform", lambda t, g: init.kaiming_uniform_(t, generator=g), 0, math.sqrt(2 / 200),
     math.sqrt(6 / 200)),
    ("kaiming_normal", lambda t, g: init.kaiming_normal_(t, generator=g), 0, math.sqrt(2 / 200), None),
    ("lecun_uniform", lambda t, g: init.lecun_uniform_(t, generator=g), 0, math.sqrt(1 / 200),
     math.sqrt(3 / 200)),
    ("lecun_normal", lambda t, g: init.lecun_normal_(t, generator=g), 0, math.sqrt(1 / 200), None),
    ("fan_in_uniform", lambda t, g: init.fan_in_uniform_(t, generator=g), 0, 1 / math.sqrt(3 * 200),
     1 / math.sqrt(200)),
])
def test_statistics(name, fill, mean, std, bound):
    t = _t(200, 300)                                     # fan_in 200, fan_out 300 (dense layout)
    fill(t, np.random.default_rng(7))
    assert abs(t.data.mean() - mean) < 4 * std / math.sqrt(t.size)
    assert t.data.std() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert np.abs(t.data).max() <= bound


def test_conv_layout_fans():
    assert init.fans((16, 4, 3, 3)) == (36, 144)
    assert init.fans((64, 10)) == (64, 10)


def test_orthogonal():
    for shape in [(6, 6), (4, 9), (9, 4)]:
        t = _t(*shape)
        init.orthogonal_(t, gain=2.0, generator=np.random.default_rng(1))
        w = t.data / 2.0
        small = w @ w.T if shape[0] <= shape[1] else w.T @ w
        np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-12)


def test_nguyen_widrow_column_norms_and_bias_range():
    w, b = _t(3, 10), _t(10)
    init.nguyen_widrow_(w, b, generator=np.random.default_rng(2))
    beta = 0.7 * 10 ** (1 / 3)
    np.testing.assert_allclose(np.linalg.norm(w.data, axis=0), beta, rtol=1e-12)
    assert np.abs(b.data).max() <= beta and b.data.std() > 0
    lin = nn.Linear(3, 10, init="nguyen_widrow")
    np.testing.assert_allclose(np.linalg.norm(lin.weight.data, axis=0), beta, rtol=1e-6)


def test_constant_zeros_ones_and_float32_cast():
    t = _t(3, dtype=np.float32)
    init.constant_(t, 0.25)
    np.testing.assert_array_equal(t.data, 0.25)
    init.ones_(t)
    assert t.data.sum() == 3
    init.zeros_(t)
    assert t.data.sum() == 0
    # float32 gets the float64 draw cast, so the same seed gives the rounded same numbers
    t64, t32 = _t(50), _t(50, dtype=np.float32)
    init.xavier_uniform_(t64, generator=np.random.default_rng(5))
    init.xavier_uniform_(t32, generator=np.random.default_rng(5))
    np.testing.assert_array_equal(t32.data, t64.data.astype(np.float32))


def test_get_by_name():
    assert init.get("glorot_uniform") is init.xavier_uniform_
    assert init.get("he_normal_") is init.kaiming_normal_
    with pytest.raises(ValueError, match="unknown initialiser 'bogus'"):
        init.get("bogus")
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
