"""A virtual clock for the timing tests: time moves only when a piece of fake work runs.

Real CPU time on a shared 2-core machine spreads by tens of percent when another job runs, so a test that
judged real timings could fail for reasons that have nothing to do with the code. The tests install this
clock in place of ``benchmarks.timing``'s clocks: a fake step of ``units`` advances it by ``units`` us times
a seeded jitter (default +-4 %), so a ratio of 3x work reads about 3, two copies of one step read about 1 with
a spread, and the same code gives the same verdicts on any machine.
"""
from __future__ import annotations

import random
from types import SimpleNamespace

CLOCK: "VirtualClock | None" = None


class VirtualClock:
    def __init__(self, jitter: float = 0.04, seed: int = 0):
        self.t = 0.0
        self.jitter = jitter
        self.rng = random.Random(seed)

    def read(self) -> float:
        return self.t

    def advance(self, units: int) -> None:
        self.t += units * 1e-6 * (1.0 + self.rng.uniform(-self.jitter, self.jitter))

    def work(self, units: int):
        """A callable that costs ``units`` on this clock."""
        return lambda: self.advance(units)

    def as_time_module(self) -> SimpleNamespace:
        """What ``benchmarks.timing`` reads its clocks from (``time.thread_time`` etc.)."""
        return SimpleNamespace(thread_time=self.read, process_time=self.read, perf_counter=self.read)


def work(units: int):
    """A fake step on the installed clock (the fake engine module's steps)."""
    if CLOCK is None:
        raise RuntimeError("no virtual clock installed: use the tests' virtual_clock fixture")
    return CLOCK.work(units)
