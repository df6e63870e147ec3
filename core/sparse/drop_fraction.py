"""How many connections a topology update replaces: the drop-fraction schedule of SET/RigL."""
from __future__ import annotations

from collections.abc import Mapping

from core.schedules import SCHEDULES, Constant, Cosine, Schedule, make_schedule
from core.validation import check_choice, check_fraction

__all__ = ["make_drop_fraction"]


def make_drop_fraction(drop_fraction, end_step: int | None) -> Schedule:
    """float | Schedule | schedule name | ``{"schedule": name, **kw}`` -> Schedule.

    A name or mapping without ``total_steps`` runs over ``end_step`` steps. ``None`` gives the RigL default
    ``Cosine(0.3, 0.0, end_step)`` (``Constant(0.3)`` without an end step).
    """
    if drop_fraction is None:
        return Cosine(0.3, 0.0, end_step) if end_step else Constant(0.3)
    if isinstance(drop_fraction, Schedule):
        return drop_fraction
    if isinstance(drop_fraction, bool):
        raise ValueError(f"drop_fraction={drop_fraction!r} must be a number in [0, 1], a schedule name or a Schedule")
    if isinstance(drop_fraction, (int, float)):
        return Constant(check_fraction("drop_fraction", drop_fraction, low_open=False))
    if isinstance(drop_fraction, str):
        drop_fraction = {"schedule": drop_fraction}
    if isinstance(drop_fraction, Mapping):
        kw = dict(drop_fraction)
        name = kw.pop("schedule", kw.pop("name", None))
        check_choice("drop_fraction schedule", name, tuple(SCHEDULES))
        if name == "constant":
            kw.setdefault("value", kw.get("start", 0.3))
        else:
            kw.setdefault("start", 0.3)
            kw.setdefault("end", 0.0)
            if "total_steps" not in kw:
                if not end_step:
                    raise ValueError(f"drop_fraction schedule {name!r} needs end_step (or total_steps) to be set")
                kw["total_steps"] = end_step
        for key in ("value", "start", "end"):
            if key in kw:
                check_fraction(f"drop_fraction {key}", kw[key], low_open=False)
        return make_schedule(name, **kw)
    raise ValueError(
        f"drop_fraction={drop_fraction!r} must be a number in [0, 1], a schedule name "
        f"({', '.join(SCHEDULES)}), a mapping {{schedule: ..., start: ..., end: ...}} or a Schedule"
    )
