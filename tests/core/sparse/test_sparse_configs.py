"""Every core/configs/sparse/*.yaml builds a working engine through build_sparsity."""
from pathlib import Path

import pytest
import torch
import yaml

from core.schedules import Constant, Cosine
from core.sparse import DynamicSparsity, build_sparsity
from sparse_testutils import cnn, train

CONFIG_DIR = Path(__file__).resolve().parents[3] / "core" / "configs" / "sparse"
FILES = sorted(CONFIG_DIR.glob("*.yaml"))


def test_expected_groups_exist():
    assert {p.stem for p in FILES} >= {"none", "static", "set", "rigl", "kernel_set"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_config_builds_and_trains(path):
    cfg = yaml.safe_load(path.read_text())
    model = cnn()
    sp = build_sparsity(model, total_steps=40, seed=0, **cfg)
    if not cfg["enabled"]:
        assert sp is None
        return
    assert isinstance(sp, DynamicSparsity)
    assert sp.density() == pytest.approx(cfg["density"], abs=0.02)
    assert sp.granularity == cfg["granularity"] and sp.grow == cfg["grow"]
    if cfg.get("end_step_fraction"):
        assert sp.end_step == round(cfg["end_step_fraction"] * 40)
        assert isinstance(sp.drop_fraction, Cosine) and sp.drop_fraction.total_steps == sp.end_step
    else:
        assert isinstance(sp.drop_fraction, Constant)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    sp.update_every = 5  # exercise updates in a few steps
    train(model, opt, sp, 10)
    for n in sp.names:
        assert torch.all(sp.weight(n)[~sp.weight_mask(n)] == 0)


@pytest.mark.parametrize("name", ["set", "kernel_set"])
def test_omegaconf_objects_are_accepted(name):
    """A recipe may hand the composed DictConfig straight through (Mappings / Sequences are accepted)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(CONFIG_DIR / f"{name}.yaml")
    cfg.targets = ["conv*"]
    sp = build_sparsity(cnn(), total_steps=100, **cfg)
    assert sp.names == ["conv1", "conv2", "conv3"]
    assert isinstance(sp.drop_fraction, Cosine) and sp.drop_fraction(0) == pytest.approx(0.3)
