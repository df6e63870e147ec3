"""sparselab-asr: dynamic data pruning for ASR (Hydra CLI). See apps/asr_ddp/README.md.

    sparselab-asr [experiment=digits_dyn07] [key=value ...]        train (Hydra overrides)
    sparselab-asr transcribe --model RUN_DIR FILE...                print the text of audio files
    sparselab-asr align --model RUN_DIR --manifest IN --out OUT.jsonl   word timings (CTC forced alignment)
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="configs", config_name="train", version_base=None)
def _train(cfg: DictConfig) -> dict:
    from apps.asr_ddp.recipe import Recipe
    from core.training.distributed import cleanup

    try:
        return Recipe(cfg).run()
    finally:
        cleanup()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "transcribe":
        from apps.asr_ddp.transcribe import main as transcribe_main

        sys.exit(transcribe_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "align":
        from apps.asr_ddp.align import main as align_main

        sys.exit(align_main(sys.argv[2:]))
    _train()


if __name__ == "__main__":
    main()
