"""Writes its composed config value ``x`` to ``out``: proves the overrides reached Hydra."""
from pathlib import Path

import hydra


@hydra.main(config_path="configs", config_name="train", version_base=None)
def main(cfg) -> None:
    Path(cfg.out).write_text(str(cfg.x))
