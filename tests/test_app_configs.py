"""Every app's Hydra config composes with every option of every config group it uses (its own and core's)."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
CORE_CONFIGS = ROOT / "core" / "configs"
APPS = sorted(p.parent.parent for p in (ROOT / "apps").glob("*/configs/train.yaml"))


def _group_options(app_configs: Path, group: str) -> list[str]:
    opts = {p.stem for p in (app_configs / group).glob("*.yaml")}
    opts |= {p.stem for p in (CORE_CONFIGS / group).glob("*.yaml")}
    return sorted(opts)


def _cases():
    for app in APPS:
        cfg_dir = app / "configs"
        defaults = OmegaConf.load(cfg_dir / "train.yaml").get("defaults", [])
        groups = []
        for d in defaults:
            if isinstance(d, str) or d is None:
                continue
            (key, _), = d.items()
            key = str(key).split("@")[0].replace("override ", "").strip("/")
            if key not in ("_self_",) and not key.startswith("hydra") and ((cfg_dir / key).is_dir() or (CORE_CONFIGS / key).is_dir()):
                groups.append(key)
        yield pytest.param(app.name, cfg_dir, [], id=f"{app.name}-default")
        for g in groups:
            for opt in _group_options(cfg_dir, g):
                yield pytest.param(app.name, cfg_dir, [f"{g}={opt}"], id=f"{app.name}-{g}={opt}")


def test_there_are_apps_with_configs():
    assert APPS, "no apps/*/configs/train.yaml found"


@pytest.mark.parametrize("app,cfg_dir,overrides", list(_cases()))
def test_compose(app, cfg_dir, overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(cfg_dir), version_base=None, job_name=f"test_{app}"):
        cfg = compose(config_name="train", overrides=overrides)
    # resolving every interpolation catches typos in the files (Hydra-only resolvers like ${now:} aside)
    container = OmegaConf.to_container(cfg, resolve=False)
    assert container, f"{app} composed to an empty config"
    for g in overrides:
        key, val = g.split("=")
        f = cfg_dir / key / f"{val}.yaml"
        f = f if f.exists() else CORE_CONFIGS / key / f"{val}.yaml"
        if "@package _global_" not in f.read_text():
            assert key in cfg, f"{app}: group {key} missing after composing {g}"
