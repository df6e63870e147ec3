"""sparselab-spa: graph active learning with SPA and baselines (Hydra).

E.g. ``sparselab-spa data=citeseer methods=spa budget=40 seeds=10``, ``sparselab-spa data=file data.path=g.pt
budget=20`` or ``sparselab-spa preset=quick``. Expected errors (a bad value, a missing or unsafe file) print one
line and exit 2 (``SPARSELAB_DEBUG=1`` shows the traceback).
"""
import hydra
from omegaconf import DictConfig

from apps.common.cli import user_errors
from apps.spa_graph.recipe import Recipe


@hydra.main(config_path="configs", config_name="train", version_base=None)
def main(cfg: DictConfig) -> None:
    with user_errors("spa"):
        Recipe(cfg).run()


if __name__ == "__main__":
    main()
