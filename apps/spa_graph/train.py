"""sparselab-spa: graph active learning with SPA and baselines (Hydra).

E.g. ``sparselab-spa dataset=citeseer method=spa budget=40 seeds=10`` or ``sparselab-spa preset=quick``.
"""
import hydra
from omegaconf import DictConfig

from apps.spa_graph.recipe import Recipe


@hydra.main(config_path="configs", config_name="train", version_base=None)
def main(cfg: DictConfig) -> None:
    Recipe(cfg).run()


if __name__ == "__main__":
    main()
