"""apps/asr_ddp: dynamic data pruning for ASR (arXiv 2406.18373) -- utterance and within-utterance granularity."""
