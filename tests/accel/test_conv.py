"""The fast convolution and max-pool (accel/conv.py): the reference ops' results, pooled memory never handed out twice, the helper thread."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.accel import conv as fast
from retrograd.autograd.ops.registry import ARRAY_MATH, OPS

rng = np.random.default_rng(5)

# (N, C, *S), out, kernel, stride, padding, dilation, groups: edges of the batch-last im2col/col2im,
# including offsets that only ever read padding (kernel reach smaller than the padding)
CASES = [
    ((3, 2, 5, 4), 3, (3, 2), (2, 1), (2, 1), (1, 2), 1),
    ((2, 4, 4, 6), 4, (3, 3), (1, 3), (3, 0), (2, 1), 2),
    ((2, 1, 3, 3), 2, (1, 1), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 7), 6, (4,), (3,), (2,), (1,), 3),
    ((2, 2, 1, 4), 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),     # rows 0 and 2 of the kernel: padding only
    ((2, 3, 1), 3, (2,), (3,), (2,), (1,), 1),                 # every offset reads padding only
]


@pytest.mark.parametrize("shape,out,k,s,p,d,g", CASES)
def test_the_fused_conv_gives_the_reference_values_and_gradients(shape, out, k, s, p, d, g):
    """Forward and VJP against the reference op's, the VJP with the forward's patches and with none."""
    ref = OPS["conv"]
    x = rng.standard_normal(shape)
    w = rng.standard_normal((out, shape[1] // g) + k)
    b = rng.standard_normal(out)
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    y_ref, cols_ref = ref.forward(x, w, b, **kw)
    y, cols = fast.conv(x, w, b, **kw)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    expected = ref.vjp(ARRAY_MATH, [True, True, True], gy, y_ref, x, w, b, saved=cols_ref, **kw)
    for saved in (cols, None):
        grads = fast.conv_vjp(ARRAY_MATH, [True, True, True], gy, y, x, w, b, saved=saved, **kw)
        for ours, theirs in zip(grads, expected):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,kernel", [((2, 3, 4, 6), (2, 2)), ((3, 2, 9), (3,)), ((1, 2, 4, 4), (4, 2))])
def test_the_tiled_max_pool_gives_the_reference_bits(shape, kernel):
    """Ties included (the first maximum of a window takes the gradient in both)."""
    x = np.round(rng.standard_normal(shape), 1)
    ref = OPS["max_pool"]
    kw = dict(kernel=kernel, stride=kernel, padding=(0,) * len(kernel))
    y = fast.max_pool(x, **kw)
    np.testing.assert_array_equal(y, ref.forward(x, **kw))
    g = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(fast.max_pool_vjp(ARRAY_MATH, [True], g, y, x, **kw)[0],
                                  ref.vjp(ARRAY_MATH, [True], g, y, x, **kw)[0])


def test_a_conv_net_trains_the_same_with_and_without_acceleration():
    """Values and every gradient of a small conv net, to 1e-12 (the products are grouped differently)."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64), nn.ReLU(),
                        nn.Conv2d(4, 5, 3, padding=1, groups=1, dtype=np.float64), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 2 * 3, 2, dtype=np.float64))
    x = rng.standard_normal((4, 3, 4, 6))
    results = []
    for on in (True, False):
        net.zero_grad()
        with rg.accel.enabled(on):
            xa = rg.tensor(x, requires_grad=True)
            y = net(xa)
            (y * y).sum().backward()
        results.append([y.data, xa.grad.data] + [p.grad.data for p in net.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_recycled_buffers_never_overwrite_outputs_or_patches_still_held():
    m = nn.Conv2d(2, 3, 3, padding=1)
    x1, x2 = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    xs = [rg.tensor(x1, requires_grad=True), rg.tensor(x2, requires_grad=True)]
    y1 = m(xs[0])
    kept = y1.data.copy()
    y2 = m(xs[1])                                             # a second graph alive at once, same shapes
    np.testing.assert_array_equal(y1.data, kept)
    y2.sum().backward()
    g2 = m.weight.grad.data.copy()
    m.zero_grad()
    y1.sum().backward()                                       # its saved patches must still be x1's
    g1 = m.weight.grad.data.copy()
    for x, g in ((x1, g1), (x2, g2)):
        m.zero_grad()
        m(rg.tensor(x)).sum().backward()
        np.testing.assert_allclose(m.weight.grad.data, g, rtol=1e-12, atol=1e-12)
    for _ in range(8):                                        # more live outputs than the pool keeps
        held = [m(rg.tensor(x1)) for _ in range(6)]
        for h in held:
            np.testing.assert_array_equal(h.data, kept)


def test_arrays_over_the_pool_limit_are_fresh_and_give_the_same_results(monkeypatch):
    from retrograd.accel import workspace
    m = nn.Conv2d(2, 3, 3, padding=1)
    x = rg.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    runs = []
    for limit in (workspace.RECYCLED_MAX_BYTES, 0):
        monkeypatch.setattr(workspace, "RECYCLED_MAX_BYTES", limit)
        m.zero_grad()
        x.grad = None
        y = m(x)
        (y * y).sum().backward()
        runs.append([y.data.copy(), x.grad.data, m.weight.grad.data])
    kept = workspace._store("recycled")
    assert not any(key[0] == "test" for key in kept)
    workspace.recycled("test", (3,), np.float32)
    assert not any(key[0] == "test" for key in kept)     # not kept
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("axes", [(0, 1, 2, 3), (3, 0, 1, 2), (1, 2, 3, 0), (2, 0, 3, 1)])
def test_pooled_arrays_keep_the_memory_order_of_their_model(axes):
    from retrograd.accel.workspace import recycled_like
    a = np.zeros((2, 3, 4, 5)).transpose(axes)
    b = recycled_like("test_like", a)
    assert b.shape == a.shape and b.strides == np.empty_like(a).strides


def test_products_shared_with_the_helper_thread_give_the_same_results(monkeypatch):
    x = rng.standard_normal((3, 5, 6, 5))                    # odd channel counts: unequal halves
    m = nn.Conv2d(5, 7, 3, padding=1)
    results = []
    for pair in (1 << 40, 0):                                 # never, then always shared
        monkeypatch.setattr(fast, "_side_by_side", lambda macs, p=pair: macs >= p)   # even on one core
        m.zero_grad()
        xa = rg.tensor(x, requires_grad=True)
        y = m(xa)
        (y * y).sum().backward()
        results.append([y.data.copy(), xa.grad.data, m.weight.grad.data, m.bias.grad.data])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_an_error_on_the_calling_thread_waits_for_the_helper():
    import threading
    finished = threading.Event()

    def slow():
        finished.wait(0.05)
        finished.set()

    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fast._both(slow, fail)
    assert finished.is_set()
