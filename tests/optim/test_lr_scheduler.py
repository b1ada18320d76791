"""Learning-rate schedules against torch's schedulers, step by step."""
import numpy as np
import pytest

import retrograd as rg
from retrograd.optim import lr_scheduler as S

torch = pytest.importorskip("torch")

CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5), "StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 9], gamma=0.3), "MultiStepLR", dict(milestones=[2, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9), "ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2, eta_min=0.01), "CosineAnnealingWarmRestarts",
     dict(T_0=4, T_mult=2, eta_min=0.01)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5), "CosineAnnealingWarmRestarts", dict(T_0=5)),
    ("LinearWarmup", dict(warmup_steps=5, start_factor=0.2), "LinearLR",
     dict(start_factor=0.2, end_factor=1.0, total_iters=5)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20), "OneCycleLR", dict(max_lr=1.0, total_steps=20)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=20, anneal_strategy="linear", pct_start=0.4), "OneCycleLR",
     dict(max_lr=0.5, total_steps=20, anneal_strategy="linear", pct_start=0.4)),
]


def _pair(lr=0.1):
    ours = rg.optim.SGD([rg.tensor(np.zeros(2), requires_grad=True)], lr=lr, momentum=0.9)
    theirs = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=lr, momentum=0.9)
    return ours, theirs


@pytest.mark.parametrize("name,kw,tname,tkw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_schedule_matches_torch(name, kw, tname, tkw):
    ours, theirs = _pair()
    s = getattr(S, name)(ours, **kw)
    t = getattr(torch.optim.lr_scheduler, tname)(theirs, **tkw)
    for epoch in range(19):
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12, abs=1e-15), epoch
        assert ours.param_groups[0]["momentum"] == pytest.approx(theirs.param_groups[0]["momentum"], rel=1e-12)
        theirs.step()
        s.step()
        t.step()


def test_plateau_matches_torch():
    ours, theirs = _pair()
    s = S.ReduceLROnPlateau(ours, factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, factor=0.5, patience=2, cooldown=1, min_lr=0.01)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    for m in metrics:
        s.step(m)
        t.step(m)
        assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"], rel=1e-12)
    assert ours.param_groups[0]["lr"] < 0.1


def test_registry_and_state_dict_resume():
    opt, _ = _pair()
    s = S.get("cosine_warm_restarts", opt, T_0=3, T_mult=2)
    for _ in range(4):
        s.step()
    saved = s.state_dict()
    opt2, _ = _pair()
    opt2.param_groups[0]["initial_lr"] = 0.1
    s2 = S.get("cosine_warm_restarts", opt2, T_0=3, T_mult=2, last_epoch=-1)
    s2.load_state_dict(saved)
    for _ in range(5):
        s.step()
        s2.step()
        assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]
    with pytest.raises(ValueError, match="unknown lr schedule"):
        S.get("nope", opt)
