"""Data side of apps/asr_ddp: precomputed features, duration-bucketed batches, within-utterance time pruning."""
