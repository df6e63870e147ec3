"""sparselab-e2enet: train E2ENet (Hydra). E.g. ``sparselab-e2enet preset=quick model.sparsity=0.8`` or
``sparselab-e2enet experiment=cpu_standard variant=s08 trainer.seed=1``."""
import hydra
from omegaconf import DictConfig

from apps.e2enet.recipe import Recipe


@hydra.main(config_path="configs", config_name="train", version_base=None)
def main(cfg: DictConfig) -> None:
    Recipe(cfg).run()


if __name__ == "__main__":
    main()
