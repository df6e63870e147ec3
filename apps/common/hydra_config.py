"""Composing an app's real config files without running its Hydra app (tests, benchmarks, comparison drivers),
and the one conversion from a composed config to the plain nested dict a recipe reads (``core.settings``)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["compose", "to_plain", "group_options", "APPS_ROOT"]

APPS_ROOT = Path(__file__).resolve().parents[1]


def _config_dir(app_or_dir: str | os.PathLike) -> Path:
    p = Path(app_or_dir)
    if p.is_dir():
        return p.resolve()
    d = APPS_ROOT / str(app_or_dir) / "configs"
    if not d.is_dir():
        raise ValueError(f"no app named {app_or_dir!r} (valid: "
                         f"{', '.join(sorted(q.parent.parent.name for q in APPS_ROOT.glob('*/configs/train.yaml')))})")
    return d


def compose(app_or_dir: str | os.PathLike, overrides: Sequence[str] = (), config_name: str = "train"):
    """The app's config (``"msrs"`` or its configs folder) composed with ``overrides``, as Hydra's CLI would
    (search path, defaults list, presets, experiments). Returns an OmegaConf ``DictConfig``."""
    from hydra import compose as _compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(_config_dir(app_or_dir)), version_base=None):
        return _compose(config_name=config_name, overrides=list(overrides))


def to_plain(cfg: Any) -> dict:
    """A composed config (or a plain mapping) as a plain nested dict with interpolations resolved; Hydra's own
    ``hydra`` node, if present, is dropped."""
    from omegaconf import DictConfig, OmegaConf

    d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    d.pop("hydra", None)
    return d


def group_options(app_or_dir: str | os.PathLike, group: str) -> list[str]:
    """The option names of a config group (the app's own folder and core's shared groups)."""
    from core import configs as core_configs

    names = {p.stem for p in (_config_dir(app_or_dir) / group).glob("*.yaml")}
    names |= {p.stem for p in (Path(core_configs.__file__).parent / group).glob("*.yaml")}
    return sorted(names)
