"""sparselab-spa: graph active learning with SPA and baselines (Hydra).

E.g. ``sparselab-spa data=citeseer methods=spa budget=40 seeds=10``, ``sparselab-spa data=file data.path=g.pt
budget=20`` or ``sparselab-spa preset=quick``. Expected errors (a bad value, a missing or unsafe file) print one
line and exit 2 (``SPARSELAB_DEBUG=1`` shows the traceback).
"""
import hydra
from omegaconf import DictConfig

from apps.common.cli import user_errors


@hydra.main(config_path="configs", config_name="train", version_base=None)
def _train(cfg: DictConfig) -> None:
    from apps.spa_graph.recipe import Recipe    # imported here: --help and bad names answer at once

    with user_errors("spa"):
        Recipe(cfg).run()


def main() -> None:
    """The console script: ``sparselab-spa sweep ...`` is the eps/mu sweep (``apps.spa_graph.sweep``); otherwise
    unknown ``group=option`` names are one-line errors (exit 2) before Hydra composes."""
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "sweep":
        from apps.spa_graph.sweep import main as sweep_main

        sweep_main(sys.argv[2:])
        return
    from apps.common.cli import reject_unknown_choices

    reject_unknown_choices("spa_graph", "sparselab-spa")
    _train()


if __name__ == "__main__":
    main()
