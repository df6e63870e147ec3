"""sparselab-msrs: VSR/ASR/AVSR with MSRS (Hydra). E.g. ``sparselab-msrs preset=grid_cpu mode=vsr experiment=msrs_s``.

Expected errors (a bad config value, bad data, a refused resume) print one line naming the key or file and exit 2
(``SPARSELAB_DEBUG=1`` shows the traceback); every run ends with one summary line (``summary_fields``)."""
import hydra
from omegaconf import DictConfig

from apps.common.cli import print_summary, run_training

NOT_LEARNED_WER = 0.95


def summary_fields(summary: dict) -> dict:
    """What the last line says: the run folder's test WER (clean), the switch step and the final density."""
    tw = (summary.get("test_wer") or {}).get("clean")
    out = {"test_wer": tw}
    if summary.get("switch_step") is not None or summary.get("method", "").startswith("msrs"):
        out["switch_step"] = summary.get("switch_step")
        if summary.get("switch_forced"):
            out["switch"] = "forced"
    out["density"] = summary.get("density")
    return out


def report(summary: dict, run_dir) -> str:
    tw = (summary.get("test_wer") or {}).get("clean")
    warn = None
    if tw is not None and tw >= NOT_LEARNED_WER:
        warn = (f"test WER {tw:.3f} >= {NOT_LEARNED_WER}: the model has not learned to read (train longer, e.g. "
                f"trainer.max_steps, or use a larger preset)")
    return print_summary("msrs", run_dir=run_dir, metrics=summary_fields(summary),
                         next_step=f"python -m apps.msrs.report <set folder> (comparisons), or rerun with "
                                   f"run_dir={run_dir} (a finished run is read back, not retrained)",
                         not_learned=warn)


@hydra.main(config_path="configs", config_name="train", version_base=None)
def _train(cfg: DictConfig) -> None:
    from apps.msrs.recipe import Recipe    # imported here: --help and bad names answer at once

    def run():
        recipe = Recipe(cfg)
        return recipe.run(), recipe.run_dir, recipe.is_main    # the recipe tears the process group down itself

    run_training("msrs", run, lambda out: out[2] and report(out[0], out[1]))


def main() -> None:
    """The console script: unknown ``group=option`` names are one-line errors (exit 2) before Hydra composes."""
    from apps.common.cli import reject_unknown_choices

    reject_unknown_choices("msrs", "sparselab-msrs")
    _train()


if __name__ == "__main__":
    main()
