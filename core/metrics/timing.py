"""Wall-clock timing that waits for the GPU when one is used."""
from __future__ import annotations

import statistics
import time

import torch

__all__ = ["Timer", "time_callable"]


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


class Timer:
    """``with Timer() as t: ...; t.elapsed`` (seconds)."""

    def __init__(self, sync: bool = True):
        self.sync = sync
        self.elapsed = 0.0

    def __enter__(self) -> "Timer":
        if self.sync:
            _sync()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.sync:
            _sync()
        self.elapsed = time.perf_counter() - self._t0


def time_callable(fn, *, warmup: int = 1, repeats: int = 5) -> dict:
    """Call ``fn()`` ``warmup`` times, then time ``repeats`` calls: ``{mean, std, min, times}`` in seconds."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be >= 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        with Timer() as t:
            fn()
        times.append(t.elapsed)
    return {"mean": statistics.fmean(times), "std": statistics.pstdev(times), "min": min(times), "times": times}
