"""Multi-tensor (packed) steps give bit for bit the per-parameter result, and survive state changes."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.accel.packed import PACK_BELOW

SHAPES = [(5, 4), (4,), (), (3, 2, 2), (1,)]


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rg.nn.Parameter(rng.normal(size=s).astype(dtype)) for s in SHAPES]


def set_grads(params, step, skip=None):
    for i, p in enumerate(params):
        rng = np.random.default_rng(100 * step + i)
        p.grad = None if i == skip else rg.tensor(rng.normal(size=p.shape).astype(p.dtype))


OPTIMIZERS = {
    "sgd": lambda ps: packed(rg.optim.SGD(ps, lr=0.1)),
    "sgd-momentum": lambda ps: packed(rg.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3)),
    "sgd-nesterov": lambda ps: packed(rg.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": lambda ps: rg.optim.Adam(ps, lr=1e-2),
    "adamw": lambda ps: rg.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "amsgrad": lambda ps: rg.optim.Adam(ps, lr=1e-2, amsgrad=True),
}


def packed(opt):
    opt.elementwise = True       # SGD is not packed by default (too few operations to repay it)
    return opt


def per_parameter(opt):
    opt.elementwise = False      # the reference: one update call per parameter
    return opt


def run(make, params, steps, skip_at=None, dtype=np.float64):
    opt = make(params)
    for t in range(steps):
        set_grads(params, t, skip=1 if t == skip_at else None)
        opt.step()
    return opt


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_packed_steps_equal_per_parameter_steps_bit_for_bit(name):
    packed, reference = make_params(), make_params()
    opt = run(OPTIMIZERS[name], packed, 25)
    ref = run(lambda ps: per_parameter(OPTIMIZERS[name](ps)), reference, 25)
    assert getattr(opt, "_packs", None), "the packed path was not taken"
    for a, b in zip(packed, reference):
        np.testing.assert_array_equal(a.data, b.data)
    sa, sb = opt.state_dict()["state"], ref.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            np.testing.assert_array_equal(sa[i][k], sb[i][k])


@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_a_step_with_a_missing_gradient_falls_back_and_stays_exact(name):
    packed, reference = make_params(), make_params()
    run(OPTIMIZERS[name], packed, 12, skip_at=5)
    run(lambda ps: per_parameter(OPTIMIZERS[name](ps)), reference, 12, skip_at=5)
    for a, b in zip(packed, reference):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_loaded_state_dict_relinks_the_pack(name):
    params = make_params()
    opt = run(OPTIMIZERS[name], params, 6)
    saved = opt.state_dict()
    snapshot = [p.data.copy() for p in params]
    for t in range(6, 10):                      # the uninterrupted run
        set_grads(params, t)
        opt.step()
    expected = [p.data.copy() for p in params]
    for p, s in zip(params, snapshot):          # rewind and resume from the saved state
        p.data = s.copy()
    opt.load_state_dict(saved)
    for t in range(6, 10):
        set_grads(params, t)
        opt.step()
    for p, e in zip(params, expected):
        np.testing.assert_array_equal(p.data, e)


def test_parameters_given_new_arrays_are_still_updated():
    params, reference = make_params(), make_params()
    opt, ref = OPTIMIZERS["adam"](params), per_parameter(OPTIMIZERS["adam"](reference))
    for t in range(8):
        if t == 4:                               # e.g. load_state_dict on the model assigns new arrays
            for p, q in zip(params, reference):
                p.data = p.data.copy()
                q.data = q.data.copy()
        set_grads(params, t)
        set_grads(reference, t)
        opt.step()
        ref.step()
    for a, b in zip(params, reference):
        np.testing.assert_array_equal(a.data, b.data)


def test_mixed_dtypes_are_not_packed_but_still_updated():
    params = make_params()
    params[0].data = params[0].data.astype(np.float32)
    opt = run(OPTIMIZERS["adam"], params, 3)
    assert not any(opt.__dict__.get("_packs", {}).values())
    assert all(opt.state[id(p)]["step"] == 3 for p in params)


@pytest.mark.parametrize("name", ["sgd-momentum", "adam"])
def test_large_parameters_are_updated_on_their_own_beside_the_packed_small_ones(name):
    def with_large():
        ps = make_params()
        ps.insert(2, rg.nn.Parameter(np.random.default_rng(9).normal(size=(100, 100))))
        return ps
    packed, reference = with_large(), with_large()
    opt = run(OPTIMIZERS[name], packed, 10)
    run(lambda ps: per_parameter(OPTIMIZERS[name](ps)), reference, 10)
    (pack,) = opt._packs.values()
    assert len(pack.params) == len(SHAPES) and all(p.data.size < PACK_BELOW for p in pack.params)
    for a, b in zip(packed, reference):
        np.testing.assert_array_equal(a.data, b.data)
