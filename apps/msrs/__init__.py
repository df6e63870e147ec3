"""apps/msrs: audio-visual speech recognition from scratch with sparse regularization (MSRS, arXiv 2406.17614)."""
