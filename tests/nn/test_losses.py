"""Losses against torch (values and gradients) for every reduction and option, NumPy formulas, extreme logits."""
import numpy as np
import pytest

import retrograd as rg
from retrograd import nn
from retrograd.nn import functional as F

from .conftest import assert_close

rng = np.random.default_rng(3)
N, C = 6, 4
LOGITS = rng.standard_normal((N, C)) * 2
LABELS = np.array([0, 3, 1, 1, 2, 3])
PROBS = rng.dirichlet(np.ones(C), size=N)
Y = rng.standard_normal((N, 3))
T = rng.standard_normal((N, 3))
P01 = rng.uniform(0.05, 0.95, size=(N, 3))
B01 = (rng.random((N, 3)) > 0.5).astype(float)
CW = np.array([0.5, 1.0, 2.0, 0.25])
LABELS_IGN = np.array([0, -100, 1, 1, -100, 3])
LOGITS_4D = rng.standard_normal((2, C, 3, 2))
LABELS_4D = rng.integers(0, C, size=(2, 3, 2))

# name, our call, torch call (t = torch module, x = input tensor), input, target
CASES = [
    ("mse", lambda x, r: F.mse_loss(x, T, reduction=r),
     lambda t, x, r: t.nn.functional.mse_loss(x, t.tensor(T), reduction=r), Y),
    ("l1", lambda x, r: F.l1_loss(x, T, reduction=r),
     lambda t, x, r: t.nn.functional.l1_loss(x, t.tensor(T), reduction=r), Y),
    ("huber", lambda x, r: F.huber_loss(x, T, reduction=r, delta=0.7),
     lambda t, x, r: t.nn.functional.huber_loss(x, t.tensor(T), reduction=r, delta=0.7), Y),
    ("ce_index", lambda x, r: F.cross_entropy(x, LABELS, reduction=r),
     lambda t, x, r: t.nn.functional.cross_entropy(x, t.tensor(LABELS), reduction=r), LOGITS),
    ("ce_weight_smooth_ignore", lambda x, r: F.cross_entropy(x, LABELS_IGN, weight=CW, reduction=r,
                                                            label_smoothing=0.2),
     lambda t, x, r: t.nn.functional.cross_entropy(x, t.tensor(LABELS_IGN), weight=t.tensor(CW),
                                                   reduction=r, label_smoothing=0.2), LOGITS),
    ("ce_probs", lambda x, r: F.cross_entropy(x, PROBS, reduction=r),
     lambda t, x, r: t.nn.functional.cross_entropy(x, t.tensor(PROBS), reduction=r), LOGITS),
    ("ce_probs_weight_smooth", lambda x, r: F.cross_entropy(x, PROBS, weight=CW, reduction=r,
                                                           label_smoothing=0.1),
     lambda t, x, r: t.nn.functional.cross_entropy(x, t.tensor(PROBS), weight=t.tensor(CW), reduction=r,
                                                   label_smoothing=0.1), LOGITS),
    ("ce_spatial", lambda x, r: F.cross_entropy(x, LABELS_4D, reduction=r),
     lambda t, x, r: t.nn.functional.cross_entropy(x, t.tensor(LABELS_4D), reduction=r), LOGITS_4D),
    ("nll_weight_ignore", lambda x, r: F.nll_loss(x, LABELS_IGN, weight=CW, reduction=r),
     lambda t, x, r: t.nn.functional.nll_loss(x, t.tensor(LABELS_IGN), weight=t.tensor(CW), reduction=r),
     LOGITS),
    ("bce", lambda x, r: F.binary_cross_entropy(x, B01, reduction=r),
     lambda t, x, r: t.nn.functional.binary_cross_entropy(x, t.tensor(B01), reduction=r), P01),
    ("bce_logits", lambda x, r: F.binary_cross_entropy_with_logits(x, B01, reduction=r),
     lambda t, x, r: t.nn.functional.binary_cross_entropy_with_logits(x, t.tensor(B01), reduction=r), Y),
    ("bce_logits_posw", lambda x, r: F.binary_cross_entropy_with_logits(
        x, B01, reduction=r, pos_weight=np.array([1.0, 3.0, 0.5]), weight=np.array([2.0, 1.0, 1.0])),
     lambda t, x, r: t.nn.functional.binary_cross_entropy_with_logits(
         x, t.tensor(B01), reduction=r, pos_weight=t.tensor([1.0, 3.0, 0.5], dtype=t.float64),
         weight=t.tensor([2.0, 1.0, 1.0], dtype=t.float64)), Y),
    ("kl_div", lambda x, r: F.kl_div(x, PROBS, reduction=r),
     lambda t, x, r: t.nn.functional.kl_div(x, t.tensor(PROBS), reduction=r), np.log(PROBS[::-1].copy())),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,ours,theirs,x", CASES, ids=IDS)
@pytest.mark.filterwarnings("ignore:reduction. .mean. divides")
def test_against_torch(name, ours, theirs, x, reduction, torch):
    a = rg.tensor(x, requires_grad=True)
    ta = torch.tensor(x, requires_grad=True)
    y, ty = ours(a, reduction), theirs(torch, ta, reduction)
    assert_close(y, ty, np.float64, name)
    w = np.linspace(0.5, 1.5, y.data.size).reshape(y.shape)
    (y * rg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(a.grad, ta.grad, np.float64, name + " grad")


def test_kl_batchmean(torch):
    x = np.log(PROBS[::-1].copy())
    assert_close(F.kl_div(rg.tensor(x), PROBS, reduction="batchmean"),
                 torch.nn.functional.kl_div(torch.tensor(x), torch.tensor(PROBS), reduction="batchmean"))


def test_float32_cross_entropy_against_torch(torch):
    x = LOGITS.astype(np.float32)
    a, ta = rg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.cross_entropy(a, LABELS), torch.nn.functional.cross_entropy(ta, torch.tensor(LABELS))
    y.backward()
    ty.backward()
    assert y.dtype == np.float32
    assert_close(y, ty, np.float32)
    assert_close(a.grad, ta.grad, np.float32)


def test_half_sse_is_the_classic_error():
    y = rg.tensor(Y, requires_grad=True)
    e = F.half_sse(y, T)                                  # default reduction: the total ½ΣΣ
    assert e.item() == pytest.approx(0.5 * np.sum((Y - T) ** 2), rel=1e-14)
    e.backward()
    np.testing.assert_allclose(y.grad.data, Y - T, rtol=1e-14)
    np.testing.assert_allclose(F.half_sse(y, T, reduction="none").data, 0.5 * np.sum((Y - T) ** 2, 1))
    assert F.half_sse(y, T, reduction="mean").item() == pytest.approx(0.5 * np.sum((Y - T) ** 2) / N)
    assert nn.get_loss("half_sse")(y, T).item() == pytest.approx(e.item())


def test_sample_weights_give_the_weighted_mean():
    sw = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 3.0])
    per = -np.log(np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True))[np.arange(N), LABELS]
    got = F.cross_entropy(rg.tensor(LOGITS), LABELS, sample_weight=sw).item()
    assert got == pytest.approx(np.sum(sw * per) / np.sum(sw), rel=1e-12)
    got_sum = F.cross_entropy(rg.tensor(LOGITS), LABELS, sample_weight=sw, reduction="sum").item()
    assert got_sum == pytest.approx(np.sum(sw * per), rel=1e-12)
    mse = F.mse_loss(rg.tensor(Y), T, sample_weight=sw).item()
    assert mse == pytest.approx(np.sum(sw[:, None] * (Y - T) ** 2) / (np.sum(sw) * 3), rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight must have shape \\(6,\\)"):
        F.mse_loss(rg.tensor(Y), T, sample_weight=np.ones(5))


@pytest.mark.parametrize("name", ["ce_index", "ce_probs", "ce_weight_smooth_ignore", "bce_logits",
                                  "bce_logits_posw", "nll_weight_ignore"])
def test_extreme_logits_are_finite(name, torch):
    _, ours, theirs, x = CASES[IDS.index(name)]
    big = np.where(np.arange(x.size).reshape(x.shape) % 2 == 0, 1e4, -1e4)
    a = rg.tensor(big, requires_grad=True)
    y = ours(a, "mean")
    y.backward()
    assert np.isfinite(y.item()) and np.all(np.isfinite(a.grad.data))
    if name != "nll_weight_ignore":   # nll takes log-probabilities: ±1e4 is not one, only finiteness matters
        assert_close(y, theirs(torch, torch.tensor(big), "mean"), np.float64, name)


def test_bce_on_saturated_probabilities_is_clamped_like_torch(torch):
    p = np.array([[0.0, 1.0, 0.5]])
    t = np.array([[1.0, 0.0, 1.0]])
    y = F.binary_cross_entropy(rg.tensor(p), t, reduction="none")
    np.testing.assert_allclose(y.data, [[100.0, 100.0, np.log(2)]])
    assert_close(y, torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none"))


def test_gradcheck_second_order():
    rg.gradcheck(lambda x: F.cross_entropy(x, LABELS, weight=CW, label_smoothing=0.1), [LOGITS], order=2)
    rg.gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, B01), [Y], order=2)
    rg.gradcheck(lambda x: F.kl_div(x, PROBS), [np.log(PROBS[::-1].copy())], order=2)


def test_registry_modules_and_errors():
    assert set(nn.loss_names()) == {"half_sse", "mse", "l1", "huber", "cross_entropy", "nll", "bce",
                                    "bce_with_logits", "kl_div", "atanh_error"}
    ce = nn.get_loss("cross_entropy", label_smoothing=0.1)
    assert isinstance(ce, nn.CrossEntropyLoss)
    assert ce(rg.tensor(LOGITS), LABELS).item() == pytest.approx(
        F.cross_entropy(rg.tensor(LOGITS), LABELS, label_smoothing=0.1).item())
    assert nn.get_loss("mse", reduction="sum")(rg.tensor(Y), T).item() == pytest.approx(np.sum((Y - T) ** 2))
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        nn.get_loss("nope")
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(rg.tensor(Y), T, reduction="avg")
    with pytest.raises(ValueError, match="prediction has shape \\(6, 3\\) but target has shape \\(6,\\)"):
        F.mse_loss(rg.tensor(Y), T[:, 0])
    with pytest.raises(ValueError, match="target classes must lie in \\[0, 4\\)"):
        F.cross_entropy(rg.tensor(LOGITS), LABELS + 2)
