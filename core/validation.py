"""Checks at the door: every bad value raises a ValueError that names it and says what is valid."""
from __future__ import annotations

from collections.abc import Iterable
import math
import os
from pathlib import Path

__all__ = ["resolve_inside", "check_number", "check_fraction", "check_choice", "check_positive_int", "check_nonneg_int", "check_range"]


def check_fraction(name: str, value, *, low_open: bool = True, high_closed: bool = True) -> float:
    """``value`` must be a number in (0, 1] (by default); returns it as float."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number in {'(' if low_open else '['}0, 1{']' if high_closed else ')'}") from None
    lo_ok = v > 0 if low_open else v >= 0
    hi_ok = v <= 1 if high_closed else v < 1
    if not (lo_ok and hi_ok) or math.isnan(v):
        raise ValueError(f"{name}={value!r} must be in {'(' if low_open else '['}0, 1{']' if high_closed else ')'}")
    return v


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(map(str, choices))}")
    return value


def check_positive_int(name: str, value) -> int:
    """``value`` must be an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (isinstance(value, float) and value.is_integer()):
        raise ValueError(f"{name}={value!r} must be an integer >= 1")
    if int(value) < 1:
        raise ValueError(f"{name}={value!r} must be an integer >= 1")
    return int(value)


def check_nonneg_int(name: str, value) -> int:
    """``value`` must be an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (isinstance(value, float) and value.is_integer()):
        raise ValueError(f"{name}={value!r} must be an integer >= 0")
    if int(value) < 0:
        raise ValueError(f"{name}={value!r} must be an integer >= 0")
    return int(value)


def check_range(name: str, value, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` must be a number in the given interval."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number") from None
    lo_ok = v > low if low_open else v >= low
    hi_ok = v < high if high_open else v <= high
    if not (lo_ok and hi_ok) or math.isnan(v):
        lb, hb = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name}={value!r} must be in {lb}{low}, {high}{hb}")
    return v


def resolve_inside(root: str | os.PathLike, entry: str | os.PathLike, *, what: str, allow_absolute: bool = False,
                   allow_symlinks: bool = False) -> Path:
    """``root / entry`` after checking that it stays inside ``root``.

    Data lists (a Decathlon ``dataset.json``, an ASR manifest, an auto_avsr label list) name files relative to
    a root. An entry that climbs out of it (``../../etc/passwd``) is refused with an error naming the entry;
    an absolute entry is refused too unless ``allow_absolute`` (for formats that document absolute paths,
    when the user opts in).

    Containment is checked on the *resolved* path (symlinks followed, ``os.path.realpath``) against the resolved
    root: a file or folder inside the data root that is a symlink to somewhere else is refused, naming both
    paths. Datasets laid out with symlinks (common on clusters: a root whose sub-folders link to other disks)
    are read only when the user opts in with ``allow_symlinks=True`` (the apps' ``data.allow_symlinks``); then
    only the lexical check applies. The root itself may be a symlink either way.
    """
    root = Path(root)
    p = Path(entry)
    if p.is_absolute():
        if allow_absolute:
            return p
        raise ValueError(f"{what}: absolute path {str(entry)!r} is not allowed here; paths must be relative to {root}"
                         " (or opt in to absolute paths where the format documents them)")
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.join(base, p))
    if full != base and not full.startswith(base + os.sep):
        raise ValueError(f"{what}: path {str(entry)!r} resolves outside the data root {root} (to {full}); refused")
    if not allow_symlinks:
        real_base, real = os.path.realpath(base), os.path.realpath(full)
        if real != real_base and not real.startswith(real_base + os.sep):
            raise ValueError(f"{what}: path {str(entry)!r} is a symlink (or under one) that leads outside the data "
                             f"root {root} (to {real}); refused. If your dataset is laid out with symlinks on "
                             f"purpose, opt in with data.allow_symlinks=true")
    return Path(full)


def check_number(name: str, value, *, integer: bool = False, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float | int:
    """A config value that must be a number (``integer``: a whole number) within [low, high].

    ``train.lr=abc`` on a Hydra command line arrives as the string ``"abc"``; this turns it into
    ``ValueError: train.lr='abc' must be a number`` before any work, instead of a TypeError deep in torch.
    """
    kind = "an integer" if integer else "a number"
    if isinstance(value, (bool, dict, list, tuple)) or value is None:
        raise ValueError(f"{name}={value!r} must be {kind}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be {kind}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}={value!r} must be a finite number")
    if integer:
        if not v.is_integer():
            raise ValueError(f"{name}={value!r} must be {kind}")
        v = int(v)
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name}={value!r} must be {'>' if low_open else '>='} {low}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{name}={value!r} must be {'<' if high_open else '<='} {high}")
    return v
