"""sparselab-msrs: VSR/ASR/AVSR with MSRS (Hydra). E.g. ``sparselab-msrs preset=grid_cpu mode=vsr experiment=msrs_s``."""
import hydra
from omegaconf import DictConfig

from apps.msrs.recipe import Recipe


@hydra.main(config_path="configs", config_name="train", version_base=None)
def main(cfg: DictConfig) -> None:
    Recipe(cfg).run()


if __name__ == "__main__":
    main()
