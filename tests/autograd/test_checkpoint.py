"""rg.checkpoint and Sequential(checkpoint_every=k): the plain run's gradients, bit for bit, with less memory.

Every variant is compared with the same computation without checkpointing:
gradients of parameters and inputs (bit for bit), dropout masks (the
generators are rewound for the recomputation and left where the plain run
leaves them), batch-norm statistics (moved once), derivatives of second
order, autocast inside a region, fit's replayed step; and the peak memory of
a deep MLP's step falls to under a third (tracemalloc).
"""
import tracemalloc

import numpy as np
import pytest

import retrograd as rg
from retrograd.training import Trainer


def data(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def mlp(depth, width, seed=0, extra=(), **kw):
    rg.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [rg.nn.Linear(width, width), rg.nn.Tanh(), *[make() for make in extra]]
    return rg.nn.Sequential(*layers, **kw)


def step(model, x, every):
    """Forward, a loss, backward: (output, gradients of every parameter and of x)."""
    model.gradient_checkpointing(every)
    model.zero_grad()
    x.grad = None
    out = model(x)
    (out * out).sum().backward()
    return out.numpy(), [p.grad.numpy() for p in model.parameters()] + [x.grad.numpy()]


@pytest.mark.parametrize("every", [1, 2, 3, 5, 40])
def test_sequential_checkpointing_gives_the_plain_gradients_bit_for_bit(every):
    model = mlp(5, 12)
    x = rg.tensor(data(7, 12, seed=1), requires_grad=True)
    out0, grads0 = step(model, x, None)
    out1, grads1 = step(model, x, every)
    assert np.array_equal(out0, out1)
    for a, b in zip(grads0, grads1):
        assert np.array_equal(a, b)


def test_dropout_and_batch_norm_see_what_the_forward_saw():
    x = rg.tensor(data(9, 10, seed=2), requires_grad=True)
    results = []
    for every in (None, 2, 3):
        model = mlp(3, 10, extra=[lambda: rg.nn.Dropout(0.4), lambda: rg.nn.BatchNorm1d(10),
                                  lambda: rg.nn.Dropout(0.3, generator=np.random.default_rng(8))])
        rg.manual_seed(21)
        out, grads = step(model, x, every)
        stats = [b.numpy().copy() for _, b in model.named_buffers()]
        following = (rg.default_generator().random(4), model[4].generator.random(4))   # the streams continue alike
        results.append((out, grads, stats, following))
    for out, grads, stats, following in results[1:]:
        assert np.array_equal(out, results[0][0])
        assert all(np.array_equal(a, b) for a, b in zip(grads, results[0][1]))
        assert all(np.array_equal(a, b) for a, b in zip(stats, results[0][2]))       # moved once, not twice
        assert all(np.array_equal(a, b) for a, b in zip(following, results[0][3]))


def test_functions_with_closures_several_outputs_and_constant_arguments():
    rg.manual_seed(3)
    lin, w = rg.nn.Linear(4, 4), rg.tensor(data(4, 3, seed=4), requires_grad=True)
    x, scale = rg.tensor(data(5, 4, seed=5), requires_grad=True), np.float32(0.5)

    def block(x, factor, offset):
        h = rg.tanh(lin(x) * factor)
        return h @ w, (h.sum(axis=1), [rg.exp(offset + h[:, :2])])

    def loss(outputs):
        a, (b, [c]) = outputs
        return (a ** 2).sum() + b.sum() + (c * 3).sum()

    params = [lin.weight, lin.bias, w, x]
    plain = rg.autograd_grad(loss(block(x, scale, 1.0)), params)
    checked = rg.autograd_grad(loss(rg.checkpoint(block, x, scale, 1.0)), params)
    for a, b in zip(plain, checked):
        assert np.array_equal(a.numpy(), b.numpy())


def test_second_order_derivatives_go_through_the_recomputation():
    model = mlp(3, 6, seed=6).double()
    x = rg.tensor(data(4, 6, seed=7, dtype=np.float64), requires_grad=True)
    v = rg.tensor(data(4, 6, seed=8, dtype=np.float64))

    def f(checked):
        return lambda x: (rg.tanh(rg.checkpoint(model, x) if checked else model(x)) ** 2).sum()

    plain, checked = rg.hvp(f(False), (x,), (v,))[0], rg.hvp(f(True), (x,), (v,))[0]
    np.testing.assert_allclose(checked.numpy(), plain.numpy(), rtol=1e-12, atol=1e-12)
    w = model[2].weight
    g_plain = rg.autograd_grad(rg.autograd_grad(f(False)(x), model[0].weight, create_graph=True).sum(), w)
    g_checked = rg.autograd_grad(rg.autograd_grad(f(True)(x), model[0].weight, create_graph=True).sum(), w)
    np.testing.assert_allclose(g_checked.numpy(), g_plain.numpy(), rtol=1e-12, atol=1e-12)
    small = rg.tensor(data(2, 6, seed=9, dtype=np.float64))
    assert rg.gradcheck(lambda x: (rg.checkpoint(model, x) ** 3).sum(), [small], order=2)


def test_autocast_inside_a_region_is_replayed_by_the_recomputation():
    model = mlp(4, 8, seed=10)
    x = rg.tensor(data(6, 8, seed=11))
    results = []
    for every in (None, 2):
        model.gradient_checkpointing(every)
        model.zero_grad()
        with rg.autocast("float16"):
            out = model(x)
        assert out.dtype == np.float16
        out.astype(np.float32).sum().backward()                 # backward outside the autocast block
        results.append([p.grad.numpy() for p in model.parameters()])
    for a, b in zip(*results):
        assert a.dtype == np.float32 and np.array_equal(a, b)


def test_fit_replays_a_checkpointed_model_with_the_same_results():
    rng = np.random.default_rng(12)
    X, y = rng.standard_normal((96, 8)).astype(np.float32), rng.integers(0, 3, 96)

    def run(every, compile):
        rg.manual_seed(13)
        model = rg.nn.Sequential(rg.nn.Linear(8, 16), rg.nn.Tanh(), rg.nn.Linear(16, 16), rg.nn.Tanh(),
                                 rg.nn.Linear(16, 3), checkpoint_every=every)
        trainer = Trainer(model, "cross_entropy", rg.optim.Adam(model.parameters(), lr=1e-2), batch_size=16,
                          quiet=True, compile=compile)
        trainer.fit((X, y), epochs=2)
        return [p.numpy() for p in model.parameters()], trainer

    plain, _ = run(None, False)
    replayed, trainer = run(2, "auto")
    assert trainer.compiled is not None and trainer.compiled.replays > 0 or not rg.accel.is_enabled()
    for a, b in zip(plain, replayed):
        assert np.array_equal(a, b)


def test_bad_uses_are_refused_clearly():
    rg.manual_seed(14)
    lin = rg.nn.Linear(3, 3)
    x = rg.tensor(data(2, 3, seed=15), requires_grad=True)
    outside = rg.tanh(x)
    with pytest.raises(ValueError, match="computed outside it .*pass it as an argument"):
        rg.checkpoint(lambda a: lin(a) + outside, x)
    with pytest.raises(TypeError, match="must return Tensors"):
        rg.checkpoint(lambda a: float(lin(a).sum()), x)
    with pytest.raises(TypeError, match="function or module"):
        rg.checkpoint(3, x)
    with pytest.raises(ValueError, match="checkpoint_every"):
        rg.nn.Sequential(lin, checkpoint_every=0)
    with pytest.raises(TypeError, match="checkpoint_every"):
        rg.nn.Sequential(lin, checkpoint_every="2")
    with rg.no_grad():                                # without a graph it is the plain call
        assert np.array_equal(rg.checkpoint(lin, x).numpy(), lin(x).numpy())
    constant = rg.tensor(data(2, 3, seed=16))
    out = rg.checkpoint(rg.tanh, constant)            # nothing wants a gradient: nothing is recorded
    assert not out.requires_grad and np.array_equal(out.numpy(), np.tanh(constant.numpy()))


def activation_peak(model, x, every):
    """Peak bytes a training step allocates beyond its result: the forward's kept arrays and the backward's work.

    The step's gradients (one array per parameter, as large as the
    parameters whether or not the step checkpoints) are subtracted.
    """
    model.gradient_checkpointing(every)
    model.zero_grad()
    tracemalloc.start()
    try:
        model(x).sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - sum(p.grad.data.nbytes for p in model.parameters())


def test_peak_memory_of_a_deep_mlp_falls_below_a_third():
    # the benchmark's network scaled down (benchmarks/bench_checkpoint_memory.py: 32 layers of 1024, batch 512):
    # 32 layers of 64, 64 modules, in segments of 8 (the square root); measured 0.29 of the plain peak
    model = mlp(32, 64, seed=17)
    x = rg.tensor(data(256, 64, seed=18))
    plain = activation_peak(model, x, None)
    checked = activation_peak(model, x, 8)
    kept = 64 * 256 * 64 * 4                                 # the plain run keeps every module's output
    assert plain >= kept
    assert checked <= plain / 3, (plain, checked)


@pytest.mark.skipif(not rg.gpu_available(), reason="needs CuPy and a GPU")
def test_checkpointing_on_the_gpu_gives_the_plain_gradients():
    import cupy
    model = mlp(4, 16, seed=19)
    for p in model.parameters():
        p.data = cupy.asarray(p.data)
    x = rg.tensor(data(8, 16, seed=20)).to("cuda")
    x.requires_grad_()
    out0, grads0 = step(model, x, None)
    out1, grads1 = step(model, x, 2)
    for a, b in zip([out0] + grads0, [out1] + grads1):
        np.testing.assert_allclose(cupy.asnumpy(b), cupy.asnumpy(a), rtol=1e-6, atol=1e-7)
