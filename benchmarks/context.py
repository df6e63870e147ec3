"""What a benchmark module sees: ``BenchContext`` (record a figure against its target, plot paths, sizes, progress).

Target strings (``target=`` of :meth:`BenchContext.record`)::

    "<= 1.02"   "< 1"   ">= 1.5"   "> 0.9"      compared quantity OP threshold
    "within 0.05"                                |value - baseline| <= 0.05   (needs a baseline)
    "within 5%"                                  |value / baseline - 1| <= 0.05   (needs a baseline)

The compared quantity of the four comparison operators is the ratio ``value / baseline`` when a
baseline is given, else the value itself. A missing value (None or NaN) never meets its target; a
ratio to a zero baseline is undefined, and such a target is "n/a" (``met`` is None).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.training.results import ResultsWriter

__all__ = ["SUITES", "TARGET_OPS", "Target", "parse_target", "evaluate_target", "direction_of", "BenchContext",
           "format_number"]

SUITES = ("smoke", "quick", "full")
TARGET_OPS = ("<=", ">=", "<", ">", "within")
_TARGET_RE = re.compile(r"^\s*(<=|>=|<|>|within)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$")
# keys a module may not pass through **extra (the context computes or owns them)
_RESERVED = {"suite", "device", "seed", "commit", "ratio", "met", "compared", "kind"}


@dataclass(frozen=True)
class Target:
    """A parsed target: ``op`` in TARGET_OPS, ``threshold``; ``relative`` only for "within N%"."""

    op: str
    threshold: float
    relative: bool = False

    def __str__(self) -> str:
        if self.relative:
            return f"within {self.threshold * 100:g}%"
        return f"{self.op} {self.threshold:g}"


def parse_target(text: str) -> Target:
    """``"<= 1.02"`` -> Target("<=", 1.02). ValueError naming the valid forms for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"target={text!r} must be a string such as '<= 1.02', '>= 1.5', 'within 0.05'")
    m = _TARGET_RE.match(text)
    if m is None:
        raise ValueError(f"target={text!r} is not understood; valid forms: '<= X', '>= X', '< X', '> X', "
                         f"'within X' (absolute, to the baseline) or 'within X%' (relative), X a number")
    op, num, pct = m.group(1), float(m.group(2)), m.group(3) == "%"
    if pct and op != "within":
        raise ValueError(f"target={text!r}: '%' is only valid with 'within' (e.g. 'within 5%')")
    if op == "within" and num < 0:
        raise ValueError(f"target={text!r}: the tolerance of 'within' must be >= 0")
    return Target(op, num / 100.0 if pct else num, relative=pct)


def _is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def evaluate_target(target: str | Target | None, value, baseline=None) -> tuple[bool | None, float | None]:
    """``(met, compared)`` for one figure; ``(None, None)`` when there is no target.

    ``compared`` is the quantity held against the threshold: the ratio value/baseline (baseline given),
    the value (no baseline), or the absolute / relative difference to the baseline for "within".
    """
    if target is None or target == "":
        return None, None
    t = target if isinstance(target, Target) else parse_target(target)
    has_base = not _is_missing(baseline)
    if t.op == "within" and not has_base:
        raise ValueError(f"target '{t}' needs a baseline (the difference to the baseline is compared)")
    if _is_missing(value):
        return False, None
    value = float(value)
    if t.op == "within":
        baseline = float(baseline)
        if t.relative:
            if baseline == 0:
                return None, None
            compared = abs(value / baseline - 1.0)
        else:
            compared = abs(value - baseline)
        return compared <= t.threshold, compared
    if has_base:
        baseline = float(baseline)
        if baseline == 0:
            return None, None
        compared = value / baseline
    else:
        compared = value
    met = {"<=": compared <= t.threshold, ">=": compared >= t.threshold,
           "<": compared < t.threshold, ">": compared > t.threshold}[t.op]
    return met, compared


def direction_of(target: str | None) -> bool | None:
    """higher_is_better implied by a target: '>='/'>' -> True, '<='/'<' -> False, 'within'/None -> None."""
    if not target:
        return None
    op = parse_target(target).op
    return {">=": True, ">": True, "<=": False, "<": False}.get(op)


def format_number(x) -> str:
    """Compact human form: 4 significant digits, ints as they are, None as '—'."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        return f"{x:.4g}"
    return str(x)


@dataclass
class BenchContext:
    """Handed to ``run(ctx)`` of every benchmark module.

    ``suite`` in SUITES picks the sizes; ``device`` is "cpu" or "cuda[:N]"; figures go through ``writer``
    (JSON lines) and are also kept in ``records``; plots go under ``out_dir/plots/<app>/``.
    """

    suite: str
    device: str
    seed: int
    out_dir: Path
    writer: ResultsWriter
    verbose: bool = True
    module: str = ""                      # the module now running (set by the runner; used in progress labels)
    records: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.suite not in SUITES:
            raise ValueError(f"suite={self.suite!r} is not valid; choose one of {', '.join(SUITES)}")
        self.out_dir = Path(self.out_dir)

    # ------------------------------------------------------------------ figures
    def record(self, app: str, variant: str, metric: str, value, unit: str = "", *, baseline=None, target=None,
               higher_is_better: bool | None = None, wall_s=None, **extra) -> dict:
        """Write one figure (JSON line) with its ``ratio`` (value/baseline) and ``met`` (target), print it, return it.

        ``target`` is a string as in the module docstring; it is checked here, so a typo fails at once.
        ``higher_is_better`` defaults to the direction the target implies (None for 'within' / no target).
        """
        for name, v in (("app", app), ("variant", variant), ("metric", metric)):
            if not isinstance(v, str) or not v:
                raise ValueError(f"{name}={v!r} must be a non-empty string")
        bad = sorted(_RESERVED & set(extra))
        if bad:
            raise ValueError(f"extra keys {bad} are reserved (set by the benchmark context); rename them")
        if target is not None:
            parse_target(target)
        value = _scalar(value)
        baseline = _scalar(baseline)
        met, compared = evaluate_target(target, value, baseline)
        ratio = None
        if not _is_missing(baseline) and not _is_missing(value) and float(baseline) != 0:
            ratio = float(value) / float(baseline)
        if higher_is_better is None:
            higher_is_better = direction_of(target)
        rec = self.writer.write(app, variant, metric, value, unit, suite=self.suite, baseline=baseline,
                                target=target, device=str(self.device), seed=self.seed, wall_s=wall_s,
                                ratio=ratio, met=met, higher_is_better=higher_is_better, **extra)
        self.records.append(rec)
        if self.verbose:
            print(describe(rec), flush=True)
        return rec

    def plot_path(self, app: str, name: str) -> Path:
        """``out_dir/plots/<app>/<name>.png`` (folder created); the report embeds every PNG found there."""
        for what, v in (("app", app), ("name", name)):
            if not isinstance(v, str) or not v or "/" in v or "\\" in v or v.startswith("."):
                raise ValueError(f"plot {what}={v!r} must be a plain non-empty file name (no '/', not hidden)")
        if not name.endswith(".png"):
            name = name + ".png"
        d = self.out_dir / "plots" / app
        d.mkdir(parents=True, exist_ok=True)
        return d / name

    def progress(self, iterable=None, total: int | None = None, desc: str = ""):
        """A rank-0 tqdm bar labelled with the running module (quiet in CI / off a terminal)."""
        from core.training.progress import progress

        label = f"{self.module}: {desc}" if self.module and desc else (self.module or desc)
        return progress(iterable, total=total, desc=label)

    def sizes(self, *, smoke, quick, full):
        """The value for the current suite: ``n = ctx.sizes(smoke=1_000, quick=100_000, full=10_000_000)``."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.suite]


def _scalar(v):
    """Tensors / numpy scalars -> Python numbers; None stays None."""
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if hasattr(v, "item") and callable(v.item):
        return v.item()
    raise ValueError(f"a recorded value must be a number (or None), got {type(v).__name__}: {v!r}")


def describe(rec: dict) -> str:
    """One 'measured vs target' line for a record."""
    unit = f" {rec['unit']}" if rec.get("unit") else ""
    s = f"[{rec['app']}] {rec['variant']} / {rec['metric']}: {format_number(rec.get('value'))}{unit}"
    if rec.get("baseline") is not None:
        s += f"  vs baseline {format_number(rec['baseline'])}{unit}"
        if rec.get("ratio") is not None:
            s += f" (ratio {rec['ratio']:.4g})"
    if rec.get("target"):
        met = rec.get("met")
        verdict = "MET" if met else ("n/a" if met is None else "NOT MET")
        s += f"  target {rec['target']} -> {verdict}"
    return s
