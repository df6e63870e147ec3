"""sparselab-asr: dynamic data pruning for ASR (Hydra CLI). See apps/asr_ddp/README.md.

    sparselab-asr [experiment=dynamic_random07] [key=value ...]          train (Hydra overrides; --help lists groups)
    sparselab-asr transcribe --model RUN_DIR FILE|FOLDER|MANIFEST...      text of audio files (TSV/JSONL with --out)
    sparselab-asr align --model RUN_DIR --manifest IN --out OUT.jsonl     word timings (CTC forced alignment)
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

NOT_LEARNED_WER = 0.95


def summarise_run(summary: dict) -> str:
    """The last line of a training run (``apps.common.cli.print_summary``), with a warning when it learned nothing."""
    from apps.common.cli import print_summary

    run_dir = summary.get("run_dir")
    wer = summary.get("test_wer")
    warn = None
    if wer is not None and wer >= NOT_LEARNED_WER:
        warn = (f"test WER {wer:.2f} >= {NOT_LEARNED_WER}: the model learned (almost) nothing; train longer "
                f"(trainer.epochs), on more data, or check the data (README: calibration)")
    return print_summary("asr", run_dir=run_dir, metrics={"variant": summary.get("variant"), "test_wer": wer,
                                                          "test_cer": summary.get("test_cer"),
                                                          "steps": summary.get("steps")},
                         next_step=f"sparselab-asr transcribe --model {run_dir} FILE..." if run_dir else None,
                         not_learned=warn)


@hydra.main(config_path="configs", config_name="train", version_base=None)
def _train(cfg: DictConfig) -> dict:
    from apps.asr_ddp.recipe import Recipe
    from apps.common.cli import run_training

    return run_training("asr", lambda: Recipe(cfg).run(), summarise_run)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "transcribe":
        from apps.asr_ddp.transcribe import main as transcribe_main

        sys.exit(transcribe_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "align":
        from apps.asr_ddp.align import main as align_main

        sys.exit(align_main(sys.argv[2:]))
    from apps.common.cli import reject_unknown_choices

    reject_unknown_choices("asr_ddp", "sparselab-asr")
    _train()


if __name__ == "__main__":
    main()
