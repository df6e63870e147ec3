"""Every core/configs/pruning/*.yaml composes (with the shared schedule of pruning/common/) into PrunerSettings and a
DataPruner with its own policy; the yaml files hold one default per key."""
from pathlib import Path

import pytest
import yaml

import core
from core.data_pruning import PrunerSettings, policy_names
from core.settings import ConfigError, ConfigReader

CONF = Path(core.__file__).parent / "configs"
CONFIGS = sorted((CONF / "pruning").glob("*.yaml"))


def _compose(name: str, **over) -> dict:
    """The group's defaults list, by hand (Hydra's rule for these files: the included base first, then the file)."""
    def load(rel):
        raw = yaml.safe_load((CONF / rel).read_text())
        out = {}
        for d in raw.pop("defaults", []):
            if d == "_self_":
                continue
            d = d.split("@")[0]
            out.update(load(d.lstrip("/") + ".yaml" if d.startswith("/") else str(Path(rel).parent / d) + ".yaml"))
        out.update(raw)
        return out

    cfg = load(f"pruning/{name}.yaml")
    cfg.update(over)
    return cfg


def test_one_config_per_policy():
    assert sorted(p.stem for p in CONFIGS) == sorted(policy_names())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_pruner(path):
    cfg = _compose(path.stem)
    assert cfg["policy"] == path.stem
    r = ConfigReader({"pruning": cfg})
    ps = PrunerSettings.from_reader(r, "pruning")
    r.check_consumed()                                   # every key of the yaml is read
    pruner = ps.build(100, num_epochs=8)
    assert pruner.select(0).numel() == 100               # the shared warm-up epoch: full data
    assert pruner.warmup_epochs == 1 and pruner.policy == path.stem


def test_common_defaults_live_in_one_place():
    """keep / warmup_epochs / anneal / seed are written once (pruning/common/base.yaml); a policy file sets only what
    differs (full and infobatch: keep 1.0; infobatch: its official anneal and ema)."""
    for path in CONFIGS:
        own = yaml.safe_load(path.read_text())
        assert "warmup_epochs" not in own and "seed" not in own, path.name
        assert ("keep" in own) == (path.stem in ("full", "infobatch")), path.name


def test_a_key_of_another_policy_is_rejected_and_errors_name_the_key():
    r = ConfigReader({"pruning": _compose("dynamic_random", epsilon=0.1)})
    PrunerSettings.from_reader(r, "pruning")
    with pytest.raises(ConfigError, match="pruning.epsilon"):
        r.check_consumed()
    with pytest.raises(ConfigError, match="pruning.epsilon=1.5"):
        PrunerSettings.from_reader(ConfigReader({"pruning": _compose("eps_greedy", epsilon=1.5)}), "pruning")
    with pytest.raises(ConfigError, match="pruning.keep=0.7: policy 'infobatch' decides its own kept count"):
        PrunerSettings.from_reader(ConfigReader({"pruning": _compose("infobatch", keep=0.7)}), "pruning")
    with pytest.raises(ConfigError, match="pruning.keep=0"):
        PrunerSettings.from_reader(ConfigReader({"pruning": _compose("ucb", keep=0)}), "pruning")
