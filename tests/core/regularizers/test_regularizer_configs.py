"""core/configs/regularizer/*.yaml build through build_regularizer."""
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import core
from core.regularizers import SoftMaskL1, build_regularizer, make_beta
from core.schedules import Exponential

DIR = Path(core.__file__).parent / "configs" / "regularizer"


def _cfg(name):
    return OmegaConf.to_container(OmegaConf.load(DIR / f"{name}.yaml"))


def test_configs_present():
    assert sorted(p.stem for p in DIR.glob("*.yaml")) == ["none", "soft_mask_l1"]


def test_none_builds_nothing():
    assert build_regularizer(nn.Linear(3, 3), total_steps=10, **_cfg("none")) is None


def test_soft_mask_l1_builds_and_trains_one_step(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    reg = build_regularizer(model, total_steps=100, **_cfg("soft_mask_l1"))
    assert isinstance(reg, SoftMaskL1) and reg.lam == pytest.approx(1e-3)
    assert reg.masks.beta == pytest.approx(1.0) and reg.stability.window == 5
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(5, 4)).pow(2).mean() + reg.penalty()
    loss.backward()
    opt.step()
    reg.step()
    assert reg.masks.beta > 1.0
    assert reg.check_stable() is False
    sd = reg.state_dict()
    other = build_regularizer(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), total_steps=100,
                              **_cfg("soft_mask_l1"))
    other.load_state_dict(sd)
    assert other.masks.beta == pytest.approx(reg.masks.beta) and other.stability.num_updates == 1


def test_make_beta():
    assert make_beta(2.5, None) == 2.5
    assert make_beta({"schedule": "exponential", "start": 1.0, "end": 8.0}, 10) == Exponential(1.0, 8.0, 10)
    with pytest.raises(ValueError, match="needs total_steps"):
        make_beta({"schedule": "cosine", "start": 1.0, "end": 8.0}, None)
    with pytest.raises(ValueError, match="unknown schedule 'warp'"):
        make_beta({"schedule": "warp", "start": 1.0, "end": 8.0}, 10)
    with pytest.raises(ValueError, match="lam=-1"):
        build_regularizer(nn.Linear(2, 2), lam=-1)
