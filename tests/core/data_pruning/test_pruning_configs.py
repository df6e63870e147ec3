"""Every core/configs/pruning/*.yaml builds a DataPruner with its own policy."""
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import core
from core.data_pruning import POLICIES, DataPruner

CONFIGS = sorted((Path(core.__file__).parent / "configs" / "pruning").glob("*.yaml"))


def test_one_config_per_policy():
    assert sorted(p.stem for p in CONFIGS) == sorted(POLICIES)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_pruner(path):
    cfg = OmegaConf.to_container(OmegaConf.load(path))
    assert cfg["policy"] == path.stem
    pruner = DataPruner(100, num_epochs=8, **cfg)
    assert pruner.select(0).numel() >= 1
