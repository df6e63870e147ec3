"""sparselab-e2enet: train E2ENet (Hydra). E.g. ``sparselab-e2enet data=decathlon data.root=/data/Task09_Spleen``,
``sparselab-e2enet preset=quick`` or ``sparselab-e2enet experiment=cpu_standard variant=s08 trainer.seed=1``.
The last line says where the run folder is, what it reached and how to predict with it."""
from __future__ import annotations

import math

import hydra
from omegaconf import DictConfig

NOT_LEARNED_DICE = 0.2   # mean foreground Dice below this: the model has not learned the structures


def summarise_run(summary: dict) -> str:
    """The last line of a training run (``apps.common.cli.print_summary``), with a warning when it learned nothing."""
    from apps.common.cli import print_summary

    run_dir = summary.get("run_dir")
    dice = summary.get("mean_dice")
    hd = summary.get("mean_hd95_mm")
    hd_nan = summary.get("mean_hd95_nan_dropped_mm")
    warn = None
    if dice is not None and (not math.isfinite(dice) or dice < NOT_LEARNED_DICE):
        warn = (f"mean Dice {dice:.3f} < {NOT_LEARNED_DICE}: the model has not learned the structures; train longer "
                f"(trainer.epochs, train.iters_per_epoch) or check the labels")
    metrics = {"variant": summary.get("variant"), "steps": summary.get("steps"),
               f"{summary.get('eval_split', 'test')} mean Dice": dice, "HD95 mm": hd,
               "HD95 mm (missed dropped)": hd_nan,
               "non-zero params": (f"{summary['params_unmasked']:,} of {summary['params_total']:,}"
                                   if summary.get("params_unmasked") is not None else None)}
    nxt = (f"sparselab-e2enet-predict --model {run_dir}/model_final.pt --input IMAGES --output PREDS"
           if run_dir else None)
    return print_summary("e2enet", run_dir=run_dir, metrics=metrics, next_step=nxt, not_learned=warn)


@hydra.main(config_path="configs", config_name="train", version_base=None)
def _train(cfg: DictConfig) -> dict:
    from apps.common.cli import run_training
    from apps.e2enet.recipe import Recipe

    return run_training("e2enet", lambda: Recipe(cfg).run(), summarise_run)


def main() -> None:
    """The console script: unknown ``group=option`` names are one-line errors (exit 2) before Hydra composes."""
    from apps.common.cli import reject_unknown_choices

    reject_unknown_choices("e2enet", "sparselab-e2enet")
    _train()


if __name__ == "__main__":
    main()
