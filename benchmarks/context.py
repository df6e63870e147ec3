"""What a benchmark module sees: ``BenchContext`` (figures against targets with their spread, plots, sizes, progress).

Three ways to put a figure in the report (all return the written record):

* ``ctx.record(...)``: one measured value (optionally against a baseline) and a point verdict;
* ``ctx.compare_timing(...)``: a timing target judged as a ratio to a baseline timed interleaved in the
  same process, with a noise floor (the baseline against itself) and an interval (``benchmarks.timing``);
* ``ctx.record_seeds(...)``: a quality figure over seeds (mean, std, per-seed values), judged on its interval
  (paired across seeds when there is a baseline); fewer than 3 seeds is "indicative".

Verdicts: "met", "missed", "within noise" (the interval straddles the target), "not judged" (a module says
its size cannot stand for the claim: ``not_judged="why"``).

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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.metrics.stats import TARGET_OPS, Target, parse_target, point_verdict  # noqa: F401 (re-exported)
from core.training.results import ResultsWriter

__all__ = ["SUITES", "TARGET_OPS", "Target", "parse_target", "evaluate_target", "direction_of", "BenchContext",
           "SkipModule", "format_number", "SEEDS_PER_SUITE", "ROUNDS_PER_SUITE"]

SUITES = ("smoke", "quick", "standard", "full")
# keys a module may not pass through **extra (the context computes or owns them)
_RESERVED = {"suite", "device", "seed", "commit", "ratio", "met", "compared", "kind", "verdict", "interval",
             "indicative", "judged_on", "not_judged_reason"}
SEEDS_PER_SUITE = {"smoke": 1, "quick": 2, "standard": 3, "full": 5}     # ctx.seed_list() defaults
ROUNDS_PER_SUITE = {"smoke": 5, "quick": 15, "standard": 25, "full": 31}  # ctx.compare_timing() default rounds
_UNSET = object()
_TIMING_FIELDS = {"baseline", "target", "wall_s", "higher_is_better", "ratio_interval", "interval_coverage", "noise_floor",
                  "noise_interval", "wall_ratio", "wall_noise_floor", "clock", "rounds", "inner", "peer", "baseline_name"}


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


class SkipModule(Exception):
    """Raised by ``ctx.skip(reason)``: the module is reported as "skipped" with its reason (not failed)."""


@dataclass
class BenchContext:
    """Handed to ``run(ctx)`` of every benchmark module.

    ``suite`` in SUITES picks the sizes; ``device`` is "cpu" or "cuda[:N]"; figures go through ``writer``
    (JSON lines) and are also kept in ``records``; plots go under ``out_dir/plots/<app>/``. ``app`` is the
    running module's NAME (set by the runner): the default ``app`` of compare_timing / record_seeds / note.
    ``runs_dir`` (default ``out_dir``) is where a module keeps reusable work (training-run folders, finished grid
    cells): the final ``--out`` folder even while ``--overwrite`` stages the results elsewhere, so an overwrite
    re-records from the finished runs instead of training them again.
    """

    suite: str
    device: str
    seed: int
    out_dir: Path
    writer: ResultsWriter
    verbose: bool = True
    module: str = ""                      # the module now running (set by the runner; used in progress labels)
    app: str = ""                         # its NAME (set by the runner)
    records: list[dict] = field(default_factory=list)
    runs_dir: Path | None = None

    def __post_init__(self):
        if self.suite not in SUITES:
            raise ValueError(f"suite={self.suite!r} is not valid; choose one of {', '.join(SUITES)}")
        self.out_dir = Path(self.out_dir)
        self.runs_dir = self.out_dir if self.runs_dir is None else Path(self.runs_dir)
        self._fallback_noted: set[str] = set()

    def _app(self, app: str | None) -> str:
        a = app or self.app or self.module
        if not isinstance(a, str) or not a:
            raise ValueError("app is not known: pass app=... (the module's NAME)")
        return a

    def _write(self, app, variant, metric, value, unit, **fields) -> dict:
        rec = self.writer.write(app, variant, metric, value, unit, suite=self.suite, device=str(self.device),
                                seed=fields.pop("seed", self.seed), **fields)
        self.records.append(rec)
        if self.verbose:
            print(describe(rec), flush=True)
        return rec

    @staticmethod
    def _check(app, variant, metric, extra, target) -> None:
        for name, v in (("app", app), ("variant", variant), ("metric", metric)):
            if not isinstance(v, str) or not v:
                raise ValueError(f"{name}={v!r} must be a non-empty string")
        bad = sorted(_RESERVED & set(extra))
        if bad:
            raise ValueError(f"extra keys {bad} are reserved (set by the benchmark context); rename them")
        if target is not None:
            parse_target(target)

    @staticmethod
    def _not_judged(not_judged) -> str | None:
        if not_judged is None or not_judged is False:
            return None
        if not isinstance(not_judged, str) or not not_judged.strip():
            raise ValueError(f"not_judged={not_judged!r} must be a reason (a non-empty string), e.g. "
                             f"'100k items cannot stand for the 10M-item claim'")
        return not_judged.strip()

    # ------------------------------------------------------------------ figures
    def record(self, app: str, variant: str, metric: str, value, unit: str = "", *, baseline=None, target=None,
               higher_is_better: bool | None = None, wall_s=None, not_judged: str | None = None, **extra) -> dict:
        """Write one figure (JSON line) with its ``ratio`` (value/baseline), ``met`` and ``verdict``, print it, return it.

        ``target`` is a string as in the module docstring; it is checked here, so a typo fails at once.
        ``higher_is_better`` defaults to the direction the target implies (None for 'within' / no target).
        ``not_judged="reason"``: the target is shown but not judged at this size (verdict "not judged").
        A point value has no interval: prefer ``compare_timing`` for times and ``record_seeds`` for quality.
        """
        self._check(app, variant, metric, extra, target)
        reason = self._not_judged(not_judged)
        value = _scalar(value)
        baseline = _scalar(baseline)
        met, compared = evaluate_target(target, value, baseline)
        ratio = None
        if not _is_missing(baseline) and not _is_missing(value) and float(baseline) != 0:
            ratio = float(value) / float(baseline)
        if higher_is_better is None:
            higher_is_better = direction_of(target)
        verdict = None
        if target:
            verdict = "not judged" if reason else point_verdict(met)
            if reason:
                met = None
        return self._write(app, variant, metric, value, unit, baseline=baseline, target=target, wall_s=wall_s,
                           ratio=ratio, met=met, verdict=verdict, higher_is_better=higher_is_better,
                           **({"not_judged_reason": reason} if reason else {}), **extra)

    def compare_timing(self, variant: str, baseline: Callable[[], object], candidate: Callable[[], object], *,
                       app: str | None = None, metric: str = "time", target: str | None = None,
                       control: Callable[[], object] | None = None, rounds: int | None = None, warmup: int = 2,
                       inner: int = 1, cpu_time: bool = True, peer: str | None = None,
                       baseline_name: str | None = None, not_judged: str | None = None, **extra) -> dict:
        """Time ``candidate`` against ``baseline`` interleaved in this process and judge the ratio candidate/baseline.

        Every round runs baseline, candidate and ``control`` (a second copy of the baseline; default the
        baseline itself) in rotating order, each ``inner`` calls; ``rounds`` defaults to ROUNDS_PER_SUITE.
        The record: ``value`` / ``baseline`` = median seconds per call of candidate / baseline (judged clock),
        ``ratio`` = median of the per-round ratios, ``ratio_interval`` its order-statistics interval,
        ``noise_floor`` / ``noise_interval`` = the same for control/baseline, ``interval`` = the ratio interval
        widened by |noise_floor - 1| (the verdict is taken on it), ``wall_ratio`` / ``wall_noise_floor`` on the
        wall clock, ``clock``, ``rounds``, ``inner``. Targets: '<= X', '< X', '>= X', '> X' on the ratio, or
        'within X%' (|ratio - 1| <= X/100). ``cpu_time=False`` judges wall time (on CUDA it always is).
        ``peer="name"``: the baseline is a peer implementation (e.g. "torch.ao.pruning"); the row is listed
        in the report's "Peers side by side" table as ours / peer. ``baseline_name`` labels the baseline.
        """
        from core.metrics.stats import interval_verdict
        from benchmarks.timing import interleaved

        app = self._app(app)
        self._check(app, variant, metric, extra, target)
        reason = self._not_judged(not_judged)
        t = parse_target(target) if target else None
        if t is not None and t.op == "within" and not t.relative:
            raise ValueError(f"target={target!r}: a timing target is on the ratio; use '<= X', '>= X' or 'within X%'")
        if peer is not None and (not isinstance(peer, str) or not peer):
            raise ValueError(f"peer={peer!r} must be the peer's name (a non-empty string)")
        clash = sorted(set(extra) & _TIMING_FIELDS)
        if clash:
            raise ValueError(f"extra keys {clash} are set by compare_timing; rename them")
        rounds = ROUNDS_PER_SUITE[self.suite] if rounds is None else rounds
        t0 = time.perf_counter()
        cmp = interleaved(baseline, candidate, control, rounds=rounds, warmup=warmup, inner=inner, device=str(self.device),
                          cpu_time=cpu_time, progress=lambda it: self.progress(it, total=rounds, desc=f"{variant} timing"))
        judged = cmp.judged
        verdict, met = None, None
        if t is not None:
            if reason:
                verdict = "not judged"
            elif t.op == "within":
                verdict = interval_verdict("within", t.threshold, judged.lo - 1.0, judged.hi - 1.0)
            else:
                verdict = interval_verdict(t.op, t.threshold, judged.lo, judged.hi)
            met = {"met": True, "missed": False}.get(verdict)
        fields = dict(baseline=cmp.baseline_s, target=target, wall_s=time.perf_counter() - t0, ratio=cmp.ratio.center,
                      met=met, verdict=verdict, higher_is_better=False, interval=[judged.lo, judged.hi],
                      ratio_interval=[cmp.ratio.lo, cmp.ratio.hi], interval_coverage=cmp.ratio.coverage,
                      noise_floor=cmp.noise.center, noise_interval=[cmp.noise.lo, cmp.noise.hi],
                      wall_ratio=cmp.wall_ratio.center, wall_noise_floor=cmp.wall_noise.center,
                      clock=cmp.clock, rounds=cmp.rounds, inner=inner, judged_on="median paired ratio")
        if peer is not None:
            fields["peer"] = peer
        if baseline_name is not None:
            fields["baseline_name"] = str(baseline_name)
        if reason:
            fields["not_judged_reason"] = reason
        return self._write(app, variant, metric, cmp.candidate_s, "s", **fields, **extra)

    def record_seeds(self, variant: str, metric: str, values, *, app: str | None = None, unit: str = "",
                     baseline=None, target: str | None = None, seeds: Sequence[int] | None = None,
                     higher_is_better: bool | None = None, not_judged: str | None = None, wall_s=None,
                     min_seeds: int | None = None, **extra) -> dict:
        """One quality figure over seeds: mean, std, n, per-seed values, judged on its interval.

        ``values``: ``{seed: value}`` or a sequence (then ``seeds`` names them, default 0..n-1). ``baseline``
        in the same form, with the same seeds: a target with a baseline is judged by a paired comparison
        across seeds -- '<= X' / '>= X' ... on the per-seed ratio value/baseline, 'within X%' on the per-seed
        relative difference value/baseline - 1, 'within X' on the per-seed difference -- through the 95 %
        Student-t interval of its mean; without a baseline the interval of the mean is held against the
        target. met / missed / within noise as in ``core.metrics.stats.judge_seeds``. Fewer than
        ``min_seeds`` (default 3) seeds: ``indicative: true``; one seed has no interval (point verdict).
        The record: value = mean, ``std`` (n-1), ``n_seeds``, ``seeds``, ``per_seed``, ``baseline`` = baseline
        mean, ``baseline_per_seed``, ``ratio`` = mean / baseline mean, ``interval`` [lo, hi] and ``judged_on``.
        """
        from core.metrics.stats import MIN_SEEDS, judge_seeds, mean_interval

        app = self._app(app)
        self._check(app, variant, metric, extra, target)
        reason = self._not_judged(not_judged)
        per = _per_seed("values", values, seeds)
        base = _per_seed("baseline", baseline, seeds) if baseline is not None else None
        if base is not None and sorted(base) != sorted(per):
            raise ValueError(f"baseline seeds {sorted(base)} must be the seeds of the values {sorted(per)} "
                             f"(the comparison is paired by seed)")
        min_seeds = MIN_SEEDS if min_seeds is None else min_seeds
        order = sorted(per)
        vals = [per[s] for s in order]
        mi = mean_interval(vals)
        std = 0.0 if len(vals) < 2 else math.sqrt(math.fsum((v - mi.center) ** 2 for v in vals) / (len(vals) - 1))
        fields: dict = dict(std=std, n_seeds=len(vals), seeds=order, per_seed=vals,
                            indicative=len(vals) < min_seeds, target=target, wall_s=wall_s, seed=None)
        bmean = None
        if base is not None:
            bvals = [base[s] for s in order]
            bmean = math.fsum(bvals) / len(bvals)
            fields.update(baseline=bmean, baseline_per_seed=bvals,
                          baseline_std=0.0 if len(bvals) < 2 else math.sqrt(
                              math.fsum((v - bmean) ** 2 for v in bvals) / (len(bvals) - 1)),
                          ratio=mi.center / bmean if bmean != 0 else None)
        clash = sorted(set(extra) & (set(fields) | {"baseline", "baseline_per_seed", "baseline_std", "ratio"}))
        if clash:
            raise ValueError(f"extra keys {clash} are set by record_seeds; rename them")
        verdict, met = None, None
        if target:
            j = judge_seeds(vals, None if base is None else [base[s] for s in order], target)
            fields.update(interval=j["interval"], judged_on=j["judged_on"], compared=j["compared"])
            verdict = "not judged" if reason else j["verdict"]
            met = {"met": True, "missed": False}.get(verdict)
            if reason:
                fields["not_judged_reason"] = reason
        if higher_is_better is None:
            higher_is_better = direction_of(target)
        fields.update(met=met, verdict=verdict, higher_is_better=higher_is_better)
        return self._write(app, variant, metric, mi.center, unit, **fields, **extra)

    def record_samples(self, variant: str, metric: str, samples, *, app: str | None = None, unit: str = "",
                       target: str | None = None, higher_is_better: bool | None = None,
                       not_judged: str | None = None, wall_s=None, **extra) -> dict:
        """One quantity measured as repeated samples in this run (e.g. a per-sample share of a step's time):
        value = the median, ``interval`` its order-statistics interval (``core.metrics.stats.median_interval``),
        judged against ``target`` on that interval (met / missed / within noise). Every sample is kept
        (``samples``); ``n_samples`` and ``interval_coverage`` say what the interval stands on."""
        from core.metrics.stats import interval_verdict, median_interval

        app = self._app(app)
        self._check(app, variant, metric, extra, target)
        reason = self._not_judged(not_judged)
        vals = [_scalar(v) for v in samples]
        mi = median_interval(vals)                     # raises on no / non-finite samples
        verdict, met = None, None
        if target:
            t = parse_target(target)
            if t.op == "within":
                raise ValueError(f"target {target!r}: record_samples judges '<=', '<', '>=' or '>' on the median")
            verdict = "not judged" if reason else interval_verdict(t.op, t.threshold, mi.lo, mi.hi)
            met = {"met": True, "missed": False}.get(verdict)
        if higher_is_better is None:
            higher_is_better = direction_of(target)
        fields = dict(target=target, wall_s=wall_s, met=met, verdict=verdict, higher_is_better=higher_is_better,
                      interval=[mi.lo, mi.hi], interval_coverage=mi.coverage, n_samples=mi.n,
                      judged_on=f"median of {mi.n} samples", samples=vals)
        clash = sorted(set(extra) & set(fields))
        if clash:
            raise ValueError(f"extra keys {clash} are set by record_samples; rename them")
        if reason:
            fields["not_judged_reason"] = reason
        return self._write(app, variant, metric, mi.center, unit, **fields, **extra)

    def note(self, text: str, *, app: str | None = None) -> dict:
        """A sentence shown under the app's section of the report (e.g. why a target is not judged at this size)."""
        app = self._app(app)
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a note must be a non-empty string")
        n = sum(1 for r in self.records if r.get("kind") == "note" and r.get("app") == app)
        return self._write(app, "(note)", f"note{n + 1}", None, "", kind="note", text=text.strip(), seed=None)

    def skip(self, reason: str):
        """Stop the module here; it is reported as "skipped" with ``reason`` (e.g. an optional peer is not installed)."""
        raise SkipModule(str(reason))

    def headline_plot(self, points: Sequence[Mapping], *, app: str | None = None, x_label: str,
                      y_label: str | None = None, title: str | None = None, target: float | None = None,
                      log_x: bool = False, higher_is_better: bool | None = None) -> Path:
        """The one plot that answers the app's question, shown at the top of REPORT.md (``plots/<app>/headline.png``).

        ``points``: one mapping per method: ``method`` (label), ``x``, optional ``y``, and optional errors
        ``x_err`` / ``y_err`` (a number = symmetric, or ``[lo, hi]`` absolute bounds) and ``n_seeds``.
        With ``y`` on every point: a scatter of quality (y) against training cost (x) with error bars
        (seed spread). Without ``y``: one horizontal bar per method (e.g. a time ratio with its interval),
        ``target`` drawn as a line. The points are also recorded (kind "headline") so the report can say
        what the plot shows.
        """
        from benchmarks.plots import headline_chart

        app = self._app(app)
        pts = [_check_point(i, p) for i, p in enumerate(points)]
        if not pts:
            raise ValueError("headline_plot needs at least one point")
        path = headline_chart(pts, self.plot_path(app, HEADLINE_PNG[:-4]), x_label=x_label, y_label=y_label,
                              title=title or app, target=target, log_x=log_x)
        self._write(app, "(headline)", "plot", None, "", kind="headline", points=pts, x_label=x_label,
                    y_label=y_label, title=title or app, seed=None, higher_is_better=higher_is_better,
                    plot=path.relative_to(self.out_dir).as_posix())
        return path

    # ------------------------------------------------------------------ helpers
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

    def sizes(self, *, smoke, quick, full, standard=_UNSET):
        """The value for the current suite: ``n = ctx.sizes(smoke=1_000, quick=100_000, standard=1_000_000, full=10_000_000)``.

        A module that gives no ``standard`` value runs its ``quick`` sizes in the standard suite, and the
        report says so (a note under the app, once per module).
        """
        if self.suite == "standard" and standard is _UNSET:
            key = self.module or self.app or "?"
            if key not in self._fallback_noted:
                self._fallback_noted.add(key)
                if self.app or self.module:
                    self.note("this module gives no `standard` sizes: it ran its `quick` sizes in the standard suite")
            return quick
        return {"smoke": smoke, "quick": quick, "standard": standard, "full": full}[self.suite]

    def seed_list(self, n: int | None = None) -> list[int]:
        """Seeds for a figure over seeds: ``n`` of them (default SEEDS_PER_SUITE: smoke 1, quick 2, standard 3, full 5)
        starting at ``ctx.seed``."""
        n = SEEDS_PER_SUITE[self.suite] if n is None else n
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r} must be an int >= 1")
        return [self.seed + i for i in range(n)]


HEADLINE_PNG = "headline.png"


def _check_point(i: int, p) -> dict:
    if not isinstance(p, Mapping):
        raise ValueError(f"headline point {i} must be a mapping with 'method' and 'x', got {type(p).__name__}")
    if not isinstance(p.get("method"), str) or not p.get("method"):
        raise ValueError(f"headline point {i} needs a 'method' label")
    out = {"method": p["method"]}
    for k in ("x", "y", "x_err", "y_err", "n_seeds"):
        v = p.get(k)
        if v is None:
            if k == "x":
                raise ValueError(f"headline point {i} ({p['method']}) needs a numeric 'x'")
            continue
        if isinstance(v, (list, tuple)):
            if k not in ("x_err", "y_err") or len(v) != 2:
                raise ValueError(f"headline point {i} ({p['method']}): {k} must be a number"
                                 + (" or [lo, hi]" if k.endswith("_err") else ""))
            v = [float(_scalar(a)) for a in v]
        else:
            v = _scalar(v)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise ValueError(f"headline point {i} ({p['method']}): {k}={v!r} must be a finite number")
        out[k] = v
    return out


def _per_seed(name: str, values, seeds) -> dict[int, float]:
    """{seed: float} from a mapping or a sequence (+ seeds); ValueError on empty, non-numeric or duplicate seeds."""
    if isinstance(values, Mapping):
        items = list(values.items())
    elif isinstance(values, Sequence) and not isinstance(values, (str, bytes)):
        ss = list(range(len(values))) if seeds is None else list(seeds)
        if len(ss) != len(values):
            raise ValueError(f"{name}: {len(values)} values but {len(ss)} seeds")
        items = list(zip(ss, values))
    else:
        raise ValueError(f"{name} must be {{seed: value}} or a sequence of values, got {type(values).__name__}")
    if not items:
        raise ValueError(f"{name}: no values (need one per seed)")
    out: dict[int, float] = {}
    for s, v in items:
        if isinstance(s, bool) or not isinstance(s, int):
            raise ValueError(f"{name}: seed {s!r} must be an int")
        if s in out:
            raise ValueError(f"{name}: seed {s} given twice")
        v = _scalar(v)
        if v is None or isinstance(v, bool) or not math.isfinite(float(v)):
            raise ValueError(f"{name}: the value of seed {s} must be a finite number, got {v!r}")
        out[s] = float(v)
    return out


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
    if rec.get("n_seeds"):
        s += f"  (mean of {rec['n_seeds']} seeds, std {format_number(rec.get('std'))})"
    if rec.get("noise_floor") is not None:
        s += f"  [noise floor {rec['noise_floor']:.4g}]"
    if rec.get("interval"):
        lo, hi = rec["interval"]
        s += f"  interval [{format_number(lo)}, {format_number(hi)}]"
    if rec.get("target"):
        verdict = rec.get("verdict") or point_verdict(rec.get("met"))
        s += f"  target {rec['target']} -> {verdict.upper()}" + (" (indicative)" if rec.get("indicative") else "")
    if rec.get("kind") == "note":
        s = f"[{rec['app']}] note: {rec.get('text')}"
    elif rec.get("kind") == "headline":
        s = f"[{rec['app']}] headline plot: {rec.get('plot')} ({len(rec.get('points') or [])} points)"
    return s
