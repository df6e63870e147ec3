"""Metrics: WER/CER, parameter counts, sparse-aware FLOPs, timing."""
from core.metrics.flops import count_flops
from core.metrics.params import count_parameters
from core.metrics.timing import Timer, time_callable
from core.metrics.wer import cer, edit_counts, wer

__all__ = ["count_flops", "count_parameters", "Timer", "time_callable", "cer", "edit_counts", "wer"]
