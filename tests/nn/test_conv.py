"""Conv1d/Conv2d and pooling: direct-loop NumPy references, torch (values and all gradients), gradchecks."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F

from .conftest import assert_close

rng = np.random.default_rng(5)


def conv2d_reference(x, w, b, stride, pad, dil, groups):
    """The definition, one output element at a time (slow; tiny shapes only)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * stride[0]:i * stride[0] + dil[0] * (kh - 1) + 1:dil[0],
                           j * stride[1]:j * stride[1] + dil[1] * (kw - 1) + 1:dil[1]]
                y[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3)) + b[oc]
    return y


# (N, C, H, W), out, kernel, stride, padding, dilation, groups
CONV2D = [
    ((2, 3, 6, 5), 4, 3, 1, 1, 1, 1),
    ((2, 4, 9, 8), 6, (3, 2), 2, (1, 0), (2, 1), 2),
    ((1, 3, 5, 5), 3, 1, 1, 0, 1, 3),
    ((2, 2, 7, 7), 4, 2, (2, 3), 2, 1, 1),
]


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("shape,out,k,s,p,d,g", CONV2D)
def test_conv2d_against_direct_loop(shape, out, k, s, p, d, g):
    k = _pair(k)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((out, shape[1] // g) + k)
    b = rng.standard_normal(out)
    y = F.conv2d(rg.tensor(x), rg.tensor(w), rg.tensor(b), s, p, d, g)
    np.testing.assert_allclose(y.data, conv2d_reference(x, w, b, _pair(s), _pair(p), _pair(d), g),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,out,k,s,p,d,g", CONV2D)
def test_conv2d_module_against_torch(shape, out, k, s, p, d, g, dtype, torch):
    m = nn.Conv2d(shape[1], out, k, stride=s, padding=p, dilation=d, groups=g, dtype=dtype)
    t = torch.nn.Conv2d(shape[1], out, k, stride=s, padding=p, dilation=d, groups=g)
    t = t.to(torch.float64 if dtype == np.float64 else torch.float32)
    assert m.weight.shape == tuple(t.weight.shape)
    _check_against_torch(m, t, rng.standard_normal(shape), dtype, torch)


def _check_against_torch(m, t, x, dtype, torch):
    with torch.no_grad():
        for name, p in m.named_parameters():
            getattr(t, name).copy_(torch.tensor(p.data))
    xa = rg.tensor(x.astype(dtype), requires_grad=True)
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    y, ty = m(xa), t(tx)
    assert_close(y, ty, dtype, "output")
    wgt = rng.standard_normal(y.shape).astype(dtype)
    (y * rg.tensor(wgt)).sum().backward()
    (ty * torch.tensor(wgt)).sum().backward()
    assert_close(xa.grad, tx.grad, dtype, "input grad")
    for name, p in m.named_parameters():
        assert_close(p.grad, getattr(t, name).grad, dtype, name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cin,out,k,s,p,d,g,bias", [(3, 4, 3, 1, 1, 1, 1, True), (4, 2, 2, 2, 0, 2, 2, False)])
def test_conv1d_against_torch(cin, out, k, s, p, d, g, bias, dtype, torch):
    m = nn.Conv1d(cin, out, k, stride=s, padding=p, dilation=d, groups=g, bias=bias, dtype=dtype)
    t = torch.nn.Conv1d(cin, out, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    t = t.to(torch.float64 if dtype == np.float64 else torch.float32)
    _check_against_torch(m, t, rng.standard_normal((2, cin, 9)), dtype, torch)


@pytest.mark.parametrize("shape,out,k,s,p,d,g", CONV2D[:2])
def test_conv2d_gradcheck_second_order(shape, out, k, s, p, d, g):
    x = rng.standard_normal((1, shape[1], 5, 5))
    w = rng.standard_normal((out, shape[1] // g) + _pair(k)) * 0.5
    b = rng.standard_normal(out)
    rg.gradcheck(lambda x, w, b: F.conv2d(x, w, b, s, p, d, g), [x, w, b], order=2)


def test_conv1d_gradcheck_second_order():
    rg.gradcheck(lambda x, w: F.conv1d(x, w, None, 2, 1, 1, 1) ** 2,
                 [rng.standard_normal((2, 2, 6)), rng.standard_normal((3, 2, 3))], order=2)


# kind, dims, kernel, stride, padding
POOLS = [("max", 2, 2, None, 0), ("max", 2, 3, 2, 1), ("max", 1, 3, 2, 1), ("avg", 2, 2, None, 0),
         ("avg", 2, 3, 2, 1), ("avg", 1, 2, 1, 0)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,dims,k,s,p", POOLS)
def test_pool_against_torch(kind, dims, k, s, p, dtype, torch):
    cls = {"max": "MaxPool", "avg": "AvgPool"}[kind] + f"{dims}d"
    m, t = getattr(nn, cls)(k, s, p), getattr(torch.nn, cls)(k, s, p)
    x = rng.standard_normal((2, 3, 7, 6)[:2 + dims]).astype(dtype)
    xa, tx = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = m(xa), t(tx)
    assert_close(y, ty, dtype, cls)
    w = rng.standard_normal(y.shape).astype(dtype)
    (y * rg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(xa.grad, tx.grad, dtype, cls + " grad")


def test_max_pool_ties_send_the_gradient_to_the_first_maximum(torch):
    x = np.zeros((1, 1, 2, 4))                          # every window is a tie (as after a ReLU)
    xa, tx = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    nn.MaxPool2d(2)(xa).sum().backward()
    torch.nn.MaxPool2d(2)(tx).sum().backward()
    np.testing.assert_array_equal(xa.grad.data, tx.grad.numpy())


def test_pool_gradcheck_second_order():
    x = rng.standard_normal((1, 2, 5, 4))
    rg.gradcheck(lambda x: F.max_pool2d(x, 2, 1) ** 2, [x], order=2)
    rg.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1) ** 2, [x], order=2)


def test_errors_name_the_shapes():
    m = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match="input has 2 channels but weight \\(4, 3, 3, 3\\)"):
        m(rg.tensor(np.zeros((1, 2, 5, 5))))
    with pytest.raises(ValueError, match="input must be \\(N, C, HW\\)|4 axes"):
        m(rg.tensor(np.zeros((2, 5, 5))))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        m(rg.tensor(np.zeros((1, 3, 2, 2))))
    with pytest.raises(ValueError, match="divisible by groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_cnn_trains_end_to_end():
    rg.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 2 * 2, 2))
    x = rng.standard_normal((16, 1, 4, 4)).astype(np.float32)
    y = (x[:, 0, :2].sum((1, 2)) > x[:, 0, 2:].sum((1, 2))).astype(np.int64)
    first = None
    for _ in range(60):
        net.zero_grad()
        loss = F.cross_entropy(net(rg.tensor(x)), y)
        loss.backward()
        for p in net.parameters():
            p.data -= 0.1 * p.grad.data
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first


# ---------------------------------------------------------------- the fused kernels' internals

# (N, C, *S), out, kernel, stride, padding, dilation, groups: edges of the batch-last im2col/col2im,
# including offsets that only ever read padding (kernel reach smaller than the padding)
FUSED = [
    ((3, 2, 5, 4), 3, (3, 2), (2, 1), (2, 1), (1, 2), 1),
    ((2, 4, 4, 6), 4, (3, 3), (1, 3), (3, 0), (2, 1), 2),
    ((2, 1, 3, 3), 2, (1, 1), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 7), 6, (4,), (3,), (2,), (1,), 3),
    ((2, 2, 1, 4), 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),     # rows 0 and 2 of the kernel: padding only
    ((2, 3, 1), 3, (2,), (3,), (2,), (1,), 1),                 # every offset reads padding only
]


@pytest.mark.parametrize("shape,out,k,s,p,d,g", FUSED)
def test_fused_conv_matches_its_composite_with_saved_or_recomputed_patches(shape, out, k, s, p, d, g):
    from retrograd.autograd.ops.conv import conv, conv_composite, conv_vjp
    from retrograd.autograd.ops.registry import ARRAY_MATH
    x = rng.standard_normal(shape)
    w = rng.standard_normal((out, shape[1] // g) + k)
    b = rng.standard_normal(out)
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    y, cols = conv.forward(x, w, b, **kw)
    ts = [rg.tensor(a, requires_grad=True) for a in (x, w, b)]
    yc = conv_composite(*ts, **kw)
    np.testing.assert_allclose(y, yc.data, rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    (yc * rg.tensor(gy)).sum().backward()
    for saved in (cols, None):                                # the forward's patches, or recomputed
        grads = conv_vjp(ARRAY_MATH, [True, True, True], gy, y, x, w, b, saved=saved, **kw)
        for ours, t in zip(grads, ts):
            np.testing.assert_allclose(ours, t.grad.data, rtol=1e-12, atol=1e-12)


def test_conv_net_gives_the_same_values_and_gradients_for_any_input_memory_order():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 2 * 3, 2))
    x = rng.standard_normal((4, 3, 4, 6))
    inputs = {"contiguous": x,
              "batch-last": np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
              "strided": np.repeat(x, 2, axis=3)[..., ::2],
              "fortran": np.asfortranarray(x)}
    results = {}
    for name, arr in inputs.items():
        assert np.array_equal(arr, x)
        net.zero_grad()
        xa = rg.tensor(arr, requires_grad=True)
        y = net(xa)
        (y * y).sum().backward()
        results[name] = [y.data, xa.grad.data] + [p.grad.data for p in net.parameters()]
    for name, got in results.items():
        for a, b in zip(got, results["contiguous"]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)
