"""Interleaved A/B timing with a noise floor measured in the same run.

``interleaved(baseline, candidate, control=None, rounds=..., ...)`` runs, in every round, the baseline
(A), the candidate (B) and a second copy of the baseline (A', the *control*; the baseline itself when no
copy is given), in an order that rotates from round to round (A B A', B A' A, A' A B, ...), so that
background load and cache effects fall on every arm alike. Each sample is ``inner`` calls of the arm.

``TimingComparison`` then holds, per clock:
* ``ratio``: median of the per-round ratios B/A with its order-statistics interval,
* ``noise``: the same for A'/A -- the noise floor: what a comparison of the baseline with itself gives,
* ``judged``: the ratio interval widened by the noise floor's bias |median(A'/A) - 1|; the verdict is
  taken on it (``core.metrics.stats.interval_verdict``).

Clocks: on CPU the thread's CPU time (``time.thread_time``) when torch runs one intra-op thread, else the
process's CPU time (``time.process_time``): time the OS gives to other processes is not counted; plus wall
time (``time.perf_counter``). On CUDA: wall time after ``torch.cuda.synchronize()``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from core.metrics.stats import Interval, median, median_interval

__all__ = ["Clock", "TimingComparison", "interleaved", "comparison_from_samples"]


class Clock:
    """``cpu`` clock name and reader for a device: thread/process CPU time on CPU, synchronized wall on CUDA."""

    def __init__(self, device: str = "cpu", *, cpu_time: bool = True):
        import torch

        self.cuda = str(device).startswith("cuda")
        if self.cuda or not cpu_time:
            self.name, self._read = "wall_time", time.perf_counter
        elif torch.get_num_threads() == 1:
            self.name, self._read = "thread_cpu_time", time.thread_time
        else:
            self.name, self._read = "process_cpu_time", time.process_time

    def now(self) -> tuple[float, float]:
        """(judged clock, wall clock) readings."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            t = time.perf_counter()
            return t, t
        return self._read(), time.perf_counter()


@dataclass
class TimingComparison:
    """Medians, paired ratios and the noise floor of one interleaved comparison (times in seconds per call)."""

    clock: str
    rounds: int
    baseline_s: float            # median time of A per call (judged clock)
    candidate_s: float           # median time of B per call
    ratio: Interval              # median of per-round B/A, order-statistics interval
    noise: Interval              # median of per-round A'/A: the noise floor
    wall_ratio: Interval         # B/A on the wall clock
    wall_noise: Interval

    @property
    def bias(self) -> float:
        """How far the baseline compared with itself lands from 1 (the noise floor's systematic error)."""
        return abs(self.noise.center - 1.0)

    @property
    def judged(self) -> Interval:
        """The interval a verdict is taken on: the ratio interval widened by the noise floor's bias."""
        return self.ratio.widened(self.bias)


def comparison_from_samples(a: list[float], b: list[float], c: list[float], wa: list[float], wb: list[float],
                            wc: list[float], *, clock: str, inner: int = 1) -> TimingComparison:
    """Build the comparison from per-round samples (seconds per sample of ``inner`` calls) of A, B, A'."""
    n = len(a)
    if not (n == len(b) == len(c) == len(wa) == len(wb) == len(wc)) or n == 0:
        raise ValueError(f"need the same number (>= 1) of samples per arm; got {len(a)}, {len(b)}, {len(c)}")
    if min(a + c + wa + wc) <= 0:
        raise ValueError("a baseline sample took no measurable time; time more calls per sample (inner=...)")
    return TimingComparison(
        clock=clock, rounds=n, baseline_s=median(a) / inner, candidate_s=median(b) / inner,
        ratio=median_interval([y / x for x, y in zip(a, b)]), noise=median_interval([z / x for x, z in zip(a, c)]),
        wall_ratio=median_interval([y / x for x, y in zip(wa, wb)]),
        wall_noise=median_interval([z / x for x, z in zip(wa, wc)]))


def interleaved(baseline: Callable[[], object], candidate: Callable[[], object], control: Callable[[], object] | None = None,
                *, rounds: int = 15, warmup: int = 2, inner: int = 1, device: str = "cpu", cpu_time: bool = True,
                progress=None) -> TimingComparison:
    """Time A (baseline), B (candidate) and A' (control, default the baseline again) in rotating rounds."""
    for name, v in (("rounds", rounds), ("inner", inner)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be an int >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} must be an int >= 0")
    for name, f in (("baseline", baseline), ("candidate", candidate), ("control", control)):
        if f is not None and not callable(f):
            raise ValueError(f"{name} must be a callable taking no argument, got {type(f).__name__}")
    arms = [baseline, candidate, control if control is not None else baseline]
    clock = Clock(device, cpu_time=cpu_time)
    for _ in range(warmup):
        for f in arms:
            f()
    cpu = [[], [], []]
    wall = [[], [], []]
    it = range(rounds) if progress is None else progress(range(rounds))
    for r in it:
        for k in (r % 3, (r + 1) % 3, (r + 2) % 3):
            f = arms[k]
            c0, w0 = clock.now()
            for _ in range(inner):
                f()
            c1, w1 = clock.now()
            cpu[k].append(c1 - c0)
            wall[k].append(w1 - w0)
    return comparison_from_samples(cpu[0], cpu[1], cpu[2], wall[0], wall[1], wall[2], clock=clock.name, inner=inner)
