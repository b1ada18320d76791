"""Mixed-precision training: rg.GradScaler step by step against torch.amp.GradScaler, and fit(precision=...).

The float16 and bfloat16 runs reach the float32 run's test accuracy on
digits; an absurd initial scale makes the first steps overflow, which are
skipped (the weights never see an Inf) while the scale backs off; a
checkpointed float16 run resumes bit for bit, scaler state included.
"""
import numpy as np
import pytest

import retrograd as rg
from retrograd.training import Trainer

from .conftest import blobs, make_mlp, weights

pytest.importorskip("ml_dtypes")
try:
    import torch
except ImportError:      # torch is the oracle of the scaler's rules only
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


# ---------------------------------------------------------------------------- GradScaler against torch's

@needs_torch
@pytest.mark.parametrize("growth,backoff,interval", [(2.0, 0.5, 3), (1.7, 0.6, 2)])
def test_scaler_skips_backs_off_and_grows_as_torch_does(growth, backoff, interval):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5).astype(np.float32)
    coefficients = []
    for k in range(24):
        c = rng.standard_normal(5).astype(np.float32)
        if k in (4, 5):
            c[1] = 1e34             # times the scale: beyond float32, an Inf gradient
        if k == 9:
            c[2] = np.inf
        if k == 15:
            c[0] = np.nan
        coefficients.append(c)
    ours = rg.nn.Parameter(w0.copy())
    opt = rg.optim.SGD([ours], lr=0.1)
    scaler = rg.GradScaler(init_scale=2.0 ** 20, growth_factor=growth, backoff_factor=backoff,
                           growth_interval=interval)
    theirs = torch.nn.Parameter(torch.tensor(w0.copy()))
    topt = torch.optim.SGD([theirs], lr=0.1)
    tscaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 20, growth_factor=growth, backoff_factor=backoff,
                                   growth_interval=interval)
    skipped = 0
    for k, c in enumerate(coefficients):
        opt.zero_grad()
        topt.zero_grad()
        with np.errstate(over="ignore", invalid="ignore"):
            scaler.scale((ours * rg.tensor(c)).sum()).backward()
        tscaler.scale((theirs * torch.tensor(c)).sum()).backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())        # the scaled gradients
        if k % 2:                                     # both ways: unscale_ by hand, or inside step()
            scaler.unscale_(opt)
            tscaler.unscale_(topt)
            np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
        before = ours.numpy().copy()
        scaler.step(opt)
        tscaler.step(topt)
        found = sum(v.item() for v in tscaler._per_optimizer_states[id(topt)]["found_inf_per_device"].values())
        assert scaler.found_inf(opt) == bool(found), k
        if found:
            skipped += 1
            assert np.array_equal(ours.numpy(), before)                   # a skipped step moves nothing
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
        scaler.update()
        tscaler.update()
        assert scaler.get_scale() == tscaler.get_scale(), k
        assert scaler.state_dict() == tscaler.state_dict(), k
    assert skipped == 4 and np.isfinite(ours.numpy()).all()


@needs_torch
def test_scaler_never_grows_past_float32_as_torch():
    ours, theirs = rg.nn.Parameter(np.ones(3, dtype=np.float32)), torch.nn.Parameter(torch.ones(3))
    opt, topt = rg.optim.SGD([ours], lr=0.1), torch.optim.SGD([theirs], lr=0.1)
    scaler = rg.GradScaler(init_scale=2.0 ** 126, growth_interval=2)
    tscaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 126, growth_interval=2)
    for _ in range(4):
        opt.zero_grad()
        topt.zero_grad()
        scaler.scale((ours * 1e-3).sum()).backward()
        tscaler.scale((theirs * 1e-3).sum()).backward()
        scaler.step(opt)
        tscaler.step(topt)
        scaler.update()
        tscaler.update()
        assert scaler.state_dict() == tscaler.state_dict()
    assert scaler.get_scale() == 2.0 ** 127 and scaler.state_dict()["_growth_tracker"] == 0


@needs_torch
def test_scaler_refuses_what_torch_refuses_and_loads_torch_state():
    p = rg.nn.Parameter(np.ones(2, dtype=np.float32))
    opt = rg.optim.SGD([p], lr=0.1)
    scaler = rg.GradScaler()
    with pytest.raises(RuntimeError, match="No inf checks were recorded prior to update."):
        scaler.update()
    scaler.scale(p.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called since the last update"):
        scaler.step(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: 0.0)
    scaler.update()
    tscaler = torch.amp.GradScaler("cpu", init_scale=96.0, growth_interval=7)
    scaler.load_state_dict(tscaler.state_dict())
    assert scaler.get_scale() == 96.0 and scaler.get_growth_interval() == 7
    with pytest.raises(RuntimeError, match="source state dict is empty"):
        scaler.load_state_dict(rg.GradScaler(enabled=False).state_dict())
    for bad in ({"init_scale": 0.0}, {"growth_factor": 1.0}, {"backoff_factor": 1.5}, {"growth_interval": 0}):
        with pytest.raises(ValueError, match="GradScaler"):
            rg.GradScaler(**bad)
    off = rg.GradScaler(enabled=False)
    loss = p.sum()
    assert off.scale(loss) is loss and off.get_scale() == 1.0


def test_an_overflowing_step_is_skipped_and_the_scale_halved():
    rg.manual_seed(1)
    model = make_mlp([4, 8, 3])
    X, y = blobs(n=16)
    opt = rg.optim.Adam(model.parameters(), lr=0.1)
    scaler = rg.GradScaler(init_scale=2.0 ** 100)          # float32 holds it; float16 gradients cannot
    before = weights(model)
    with rg.autocast("float16"):
        loss = rg.nn.functional.cross_entropy(model(rg.tensor(X)), rg.tensor(y))
    assert np.isfinite(float(loss))
    with np.errstate(over="ignore", invalid="ignore"):
        scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.found_inf(opt) is False                   # update() started a new round
    assert scaler.get_scale() == 2.0 ** 99
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(model)))
    assert opt.state == {} or all(not s for s in opt.state.values())     # Adam never saw the Inf


# ---------------------------------------------------------------------------- fit(precision=...)

def digits_split():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    return (X[:1300], y[:1300]), (X[1300:], y[1300:])


def digits_run(precision, grad_scaler=None, epochs=8):
    (X, y), (Xt, yt) = digits_split()
    model = make_mlp([64, 32, 10], seed=3)
    opt = rg.optim.Adam(model.parameters(), lr=1e-2)
    history = rg.fit(model, "cross_entropy", opt, (X, y), epochs=epochs, batch_size=64, quiet=True,
                     precision=precision, grad_scaler=grad_scaler)
    with rg.no_grad():
        accuracy = float((model(rg.tensor(Xt)).numpy().argmax(axis=1) == yt).mean())
    return model, history, accuracy


def test_float16_and_bfloat16_runs_reach_the_float32_accuracy_on_digits():
    pytest.importorskip("sklearn")
    _, h32, acc32 = digits_run(None)
    _, h16, acc16 = digits_run("float16")
    _, hbf, accbf = digits_run("bfloat16")
    assert acc32 > 0.94
    assert acc16 >= acc32 - 0.01 and accbf >= acc32 - 0.01, (acc32, acc16, accbf)
    assert h16["loss"] != h32["loss"] and hbf["loss"] != h32["loss"]     # they did run in low precision
    assert abs(h16["loss"][-1] - h32["loss"][-1]) < 0.05


def test_overflow_in_fit_is_skipped_without_nan_weights():
    pytest.importorskip("sklearn")
    scaler = rg.GradScaler(init_scale=2.0 ** 60, growth_interval=10)
    model, history, accuracy = digits_run("float16", grad_scaler=scaler)
    assert not history.diverged and all(np.isfinite(p.numpy()).all() for p in model.parameters())
    assert scaler.get_scale() < 2.0 ** 30                   # it backed off from the absurd start
    assert accuracy > 0.9


def test_float16_checkpoint_resumes_bit_for_bit_with_the_scaler(tmp_path):
    X, y = blobs(n=48)

    def run(epochs, resume=None):
        rg.manual_seed(5)
        model = make_mlp([4, 8, 3], seed=6)
        opt = rg.optim.Adam(model.parameters(), lr=0.05)
        scaler = rg.GradScaler(init_scale=2.0 ** 22, growth_interval=3)
        rg.fit(model, "cross_entropy", opt, (X, y), epochs=epochs, batch_size=8, quiet=True, precision="float16",
               grad_scaler=scaler, checkpoint=str(tmp_path / "run.ckpt"), resume=resume)
        return weights(model), scaler.state_dict()

    full, full_state = run(4)
    run(2)
    resumed, resumed_state = run(4, resume=str(tmp_path / "run.ckpt"))
    assert full_state == resumed_state and full_state["scale"] != 2.0 ** 22
    for a, b in zip(full, resumed):
        np.testing.assert_array_equal(a, b)


def test_fit_checks_the_precision_arguments():
    X, y = blobs(n=16)

    def fit(model=None, opt=None, **kw):
        model = model or make_mlp([4, 5, 3])
        opt = opt or rg.optim.SGD(model.parameters(), lr=0.1)
        return rg.fit(model, "cross_entropy", opt, (X, y), epochs=1, quiet=True, **kw)

    with pytest.raises(ValueError, match="precision must be one of"):
        fit(precision="float8")
    with pytest.raises(ValueError, match="float32 master weights"):
        fit(model=make_mlp([4, 5, 3], dtype=np.float64), precision="float16")
    with pytest.raises(ValueError, match="precision='float32' but the model's parameters are float64"):
        fit(model=make_mlp([4, 5, 3], dtype=np.float64), precision="float32")
    model = make_mlp([4, 5, 3])
    with pytest.raises(ValueError, match="LBFGS is a full-batch method"):
        fit(model, rg.optim.LBFGS(model.parameters()), precision="float16")
    with pytest.raises(ValueError, match="LevenbergMarquardt builds its own residuals step"):
        rg.fit(model, "mse", rg.optim.LevenbergMarquardt(model.parameters()), (X, np.eye(3, dtype=np.float32)[y]),
               epochs=1, quiet=True, precision="bfloat16")
    with pytest.raises(TypeError, match="grad_scaler must be an rg.GradScaler"):
        fit(precision="float16", grad_scaler=2.0 ** 16)
    with pytest.raises(ValueError, match="grad_scaler is for precision='float16'"):
        fit(grad_scaler=rg.GradScaler())
    history = fit(model, rg.optim.LBFGS(model.parameters()), precision="bfloat16", mode="batch")
    assert np.isfinite(history["loss"][-1])                # bfloat16 needs no scaling: any loss closure
