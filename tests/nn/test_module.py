"""Module machinery: parameter walk, modes, grads, state dicts (strict checks), dtype casts, containers."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Tanh()])
        self.heads = nn.ModuleDict({"x": nn.Linear(4, 2)})
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.plain = 5  # not registered

    def forward(self, x):
        h = self.blocks[1](self.blocks[0](self.a(x)))
        return self.heads["x"](h) * self.scale


def test_named_parameters_walk_in_assignment_order():
    m = Custom()
    names = [n for n, _ in m.named_parameters()]
    # a module's own parameters first, then its children's, each in assignment order
    assert names == ["scale", "a.weight", "a.bias", "blocks.0.weight", "blocks.0.bias",
                     "heads.x.weight", "heads.x.bias"]
    assert len(list(m.parameters())) == 7
    assert [type(c).__name__ for c in m.children()] == ["Linear", "ModuleList", "ModuleDict"]
    assert m.num_parameters() == 3 * 4 + 4 + 4 * 4 + 4 + 4 * 2 + 2 + 1


def test_shared_parameter_listed_once():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(m.parameters())) == 2


def test_train_eval_flags_reach_every_module():
    m = Custom()
    m.eval()
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_zero_grad_and_backward():
    m = Custom()
    x = rg.tensor(np.ones((2, 3), dtype=np.float32))
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m(x).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in m.parameters())


def test_state_dict_round_trip_and_strict_errors():
    a, b = Custom(), Custom()
    x = rg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert not np.allclose(a(x).data, b(x).data)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    sd = a.state_dict()
    sd.pop("a.bias")
    with pytest.raises(KeyError, match="missing keys \\['a.bias'\\]"):
        b.load_state_dict(sd)
    missing, unexpected = b.load_state_dict(sd, strict=False)
    assert missing == ["a.bias"] and unexpected == []
    bad = dict(a.state_dict())
    bad["a.weight"] = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="a.weight: file has shape \\(4, 3\\), model has \\(3, 4\\)"):
        b.load_state_dict(bad)
    bad["a.weight"] = np.zeros((3, 4), dtype=np.float64)
    with pytest.raises(ValueError, match="dtype float64"):
        b.load_state_dict(bad)
    extra = dict(a.state_dict(), junk=np.zeros(1))
    with pytest.raises(KeyError, match="unexpected keys \\['junk'\\]"):
        b.load_state_dict(extra)


def test_load_state_dict_copies_values_in_place():
    m = nn.Linear(2, 2)
    w = m.weight
    m.load_state_dict({"weight": np.eye(2, dtype=np.float32), "bias": np.ones(2, dtype=np.float32)})
    assert m.weight is w
    np.testing.assert_array_equal(w.data, np.eye(2))


def test_to_dtype_keeps_objects_and_casts_buffers():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    params = list(m.parameters())
    m.to(np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64       # integer buffers are left alone
    y = m(rg.tensor(np.ones((4, 2))))
    assert y.dtype == np.float64


def test_sequential_indexing_and_residual():
    s = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
    assert isinstance(s[0], nn.Linear) and len(s) == 2 and isinstance(s[:1], nn.Sequential)
    body = nn.Linear(3, 3)
    r = nn.Residual(body)
    x = rg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_allclose(r(x).data, body(x).data + x.data, rtol=1e-6)
    short = nn.Linear(3, 2, bias=False)
    r2 = nn.Residual(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), shortcut=short)
    assert "shortcut.weight" in r2.state_dict() and "shortcut.bias" not in r2.state_dict()
    np.testing.assert_allclose(r2(x).data, r2.body(x).data + x.data @ short.weight.data, rtol=1e-6)


def test_container_rejects_non_modules():
    with pytest.raises(TypeError, match="not a retrograd.nn.Module"):
        nn.Sequential(nn.Linear(1, 1), lambda x: x)


def test_parameter_is_a_leaf_tensor_requiring_grad():
    p = nn.Parameter(np.zeros(3))
    assert isinstance(p, rg.Tensor) and p.requires_grad and p.is_leaf
    assert "Parameter" in repr(p)


def test_setattr_before_init_explains():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))
    with pytest.raises(RuntimeError, match="super\\(\\).__init__"):
        Broken()
