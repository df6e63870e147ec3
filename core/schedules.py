"""Scalar schedules over training steps.

A schedule is a pure function of the step, so it needs no state of its own in a checkpoint:
whoever owns the step counter (the sparsity engine, the soft masks, the trainer) restores it.
Used for drop fractions (core.sparse), mask temperatures (core.regularizers) and learning rates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.validation import check_choice

__all__ = ["Schedule", "Constant", "Linear", "Cosine", "Cubic", "Exponential", "make_schedule", "SCHEDULES", "warmup_cosine"]


class Schedule:
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    value: float

    def __call__(self, step: int) -> float:
        return float(self.value)


@dataclass(frozen=True)
class _Interpolated(Schedule):
    start: float
    end: float
    total_steps: int

    def __post_init__(self) -> None:
        if int(self.total_steps) < 1:
            raise ValueError(f"total_steps={self.total_steps} must be >= 1")

    def _t(self, step: int) -> float:
        return min(max(step, 0), self.total_steps) / self.total_steps


class Linear(_Interpolated):
    """start -> end linearly over ``total_steps``, then constant at ``end``."""

    def __call__(self, step: int) -> float:
        t = self._t(step)
        return self.start + (self.end - self.start) * t


class Cosine(_Interpolated):
    """Half-cosine from ``start`` to ``end`` (RigL's drop-fraction decay), then constant."""

    def __call__(self, step: int) -> float:
        t = self._t(step)
        return self.end + 0.5 * (self.start - self.end) * (1.0 + math.cos(math.pi * t))


class Cubic(_Interpolated):
    """Zhu & Gupta (2017) cubic: ``end + (start - end) * (1 - t)^3``."""

    def __call__(self, step: int) -> float:
        t = self._t(step)
        return self.end + (self.start - self.end) * (1.0 - t) ** 3


class Exponential(_Interpolated):
    """Geometric interpolation ``start * (end/start)^t`` (for temperatures); start, end > 0."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.start <= 0 or self.end <= 0:
            raise ValueError(f"Exponential schedule needs start > 0 and end > 0, got start={self.start}, end={self.end}")

    def __call__(self, step: int) -> float:
        t = self._t(step)
        return self.start * (self.end / self.start) ** t


SCHEDULES = {"constant": Constant, "linear": Linear, "cosine": Cosine, "cubic": Cubic, "exponential": Exponential}


def make_schedule(name: str, **kwargs) -> Schedule:
    """Build a schedule by name: ``make_schedule("cosine", start=0.5, end=0.0, total_steps=1000)``.

    ``constant`` takes ``value`` (or ``start``).
    """
    name = check_choice("schedule", name, tuple(SCHEDULES))
    if name == "constant":
        value = kwargs.get("value", kwargs.get("start"))
        if value is None:
            raise ValueError("constant schedule needs 'value'")
        return Constant(float(value))
    missing = [k for k in ("start", "end", "total_steps") if k not in kwargs]
    if missing:
        raise ValueError(f"{name} schedule needs {missing}")
    return SCHEDULES[name](float(kwargs["start"]), float(kwargs["end"]), int(kwargs["total_steps"]))


def as_schedule(value: float | Schedule) -> Schedule:
    """A float becomes ``Constant(value)``; a schedule passes through."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, (int, float)):
        return Constant(float(value))
    raise ValueError(f"expected a number or a Schedule, got {type(value).__name__}: {value!r}")


def warmup_cosine(step: int, peak: float, warmup: int, total: int, min_ratio: float = 0.05) -> float:
    """Learning rate at optimizer step ``step`` (0-based): linear warm-up to ``peak`` over ``warmup`` steps,
    then a half cosine down to ``min_ratio * peak`` at ``total``, constant after."""
    warmup = max(1, int(warmup))
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))
