"""sparselab-asr: dynamic data pruning for ASR (Hydra CLI). See apps/asr_ddp/README.md."""
from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


@hydra.main(config_path="configs", config_name="train", version_base=None)
def main(cfg: DictConfig) -> dict:
    from apps.asr_ddp.recipe import Recipe

    if cfg.get("run_dir") is None:
        OmegaConf.set_struct(cfg, False)
        cfg.run_dir = HydraConfig.get().runtime.output_dir
    return Recipe(cfg).run()


if __name__ == "__main__":
    main()
