"""Adam's fast update (accel/adam.py): the compiled pass and the NumPy work-array passes give the reference rule's bits."""
import os

import numpy as np
import pytest

import retrograd as rg
from retrograd.accel import adam as fast


def test_the_ci_build_has_the_compiled_adam():
    """CI sets RETROGRAD_REQUIRE_NATIVE=1: there a missing extension is a failed build, not a silent fallback."""
    if os.environ.get("RETROGRAD_REQUIRE_NATIVE") != "1":
        pytest.skip("RETROGRAD_REQUIRE_NATIVE is not set")
    assert fast.available()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("compiled", [True, False])
def test_the_fast_update_equals_the_reference_rule(monkeypatch, dtype, amsgrad, compiled):
    """NumPy parameters take the compiled one-pass update (adam_kernel.c) or, without it, the
    in-place NumPy passes with reused work arrays; either must give, bit for bit, what
    ``Adam.update`` (the reference, and what CuPy arrays take) gives."""
    if compiled and not fast.available():
        pytest.skip("the compiled Adam update was not built")
    if not compiled:
        monkeypatch.setattr(fast, "_LIB", None)
    ran = []
    real = fast.compiled_update
    monkeypatch.setattr(fast, "compiled_update", lambda *a: ran.append(real(*a)) or ran[-1])
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((30, 7)).astype(dtype)
    grads = [rng.standard_normal((30, 7)).astype(dtype) for _ in range(4)]
    opt = rg.optim.Adam([rg.nn.Parameter(w0.copy())], lr=0.01, amsgrad=amsgrad)
    group = opt.param_groups[0]
    p_fast, p_ref = w0.copy(), w0.copy()
    s_fast, s_ref = opt.init_state(w0, group), opt.init_state(w0, group)
    for g in grads:
        fast.update(p_fast, g, s_fast, group)
        opt.update(p_ref, g, s_ref, group)
    assert p_fast.dtype == dtype
    assert ran == [compiled] * len(grads)                      # the path under test was the one taken
    np.testing.assert_array_equal(p_fast, p_ref)
    for key in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
        np.testing.assert_array_equal(s_fast[key], s_ref[key])
    assert not np.array_equal(p_fast, w0)


@pytest.mark.parametrize("cls", [rg.optim.Adam, rg.optim.AdamW, rg.optim.AMSGrad])
def test_the_step_takes_the_fast_update_only_while_acceleration_is_on(monkeypatch, cls):
    """Adam's registered version also serves AdamW and AMSGrad (they keep Adam's rule), and the
    switch turns it off; both ways give the same bits."""
    calls = []
    real = fast.compiled_update
    monkeypatch.setattr(fast, "compiled_update", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((40, 300))                         # one large parameter: never packed
    results = []
    for on in (True, False):
        p = rg.nn.Parameter(w0.copy())
        opt = cls([p], lr=0.01)
        calls.clear()
        with rg.accel.enabled(on):
            for t in range(3):
                p.grad = rg.tensor(np.random.default_rng(t).standard_normal(w0.shape))
                opt.step()
        assert bool(calls) == on
        results.append(p.data)
    np.testing.assert_array_equal(*results)


def test_a_subclass_that_redefines_the_rule_does_not_get_adams_kernel(monkeypatch):
    calls = []
    monkeypatch.setattr(fast, "compiled_update", lambda *a: calls.append(1) or True)

    class Halved(rg.optim.Adam):
        def update(self, p, g, state, group):
            super().update(p, 0.5 * g, state, group)

    p = rg.nn.Parameter(np.ones((50, 300)))
    opt = Halved([p], lr=0.1)
    p.grad = rg.tensor(np.ones((50, 300)))
    opt.step()
    assert not calls and not np.array_equal(p.data, np.ones((50, 300)))
