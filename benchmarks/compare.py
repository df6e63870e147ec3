"""Compare two benchmark runs as a gate: ``sparselab bench compare OLD NEW [--threshold 0.05] [--fail-on-regression]``.

Rows are joined on (suite, app, variant, metric); a key that repeats inside one file (e.g. the points
of a scaling curve) is matched in order of appearance (#1, #2, ...).

* The compared quantity is the ``ratio`` to the baseline measured in the same run where a figure has
  one (timings, paired comparisons), else the value.
* Each side has a noise band: the interval the run judged the figure on (a timing's ratio interval
  widened by its noise floor; a paired comparison's interval over seeds; the Student-t interval of a
  mean over seeds), never narrower than +-``threshold`` (relative). A change is a regression only when
  it leaves the noise band of both runs the wrong way: the new quantity is outside the old band and the
  old quantity outside the new band. Times measured outside an interleaved comparison -- absolute times
  (scaling points, module wall times, query times, also over seeds) and ratios of times taken in separate
  runs (a method's training time over another's) -- follow the machine's load: shown, never gated. Times
  are gated only as ``compare_timing``'s interleaved ratio (or a ``record_samples`` share measured inside
  one sample).
* Modules: ok -> failed / interrupted / skipped, and a module missing from NEW, are regressions;
  failed -> ok is a fix.
* An empty NEW run, one without its end-of-run record (crashed) or an interrupted one fails the gate; so does
  such an OLD run: a baseline that recorded nothing (or only part of a run) cannot stand for "no regression".

Which way is better comes from, in order: the record's ``higher_is_better``; its target ('>=', '>'
higher; '<=', '<' lower); its unit (time and memory units lower, rates '.../s' higher); words of its
metric name (accuracy, dice, f1, ... higher; wer, loss, time, ... lower). Rows whose direction stays
unknown are shown as "changed" but never flagged.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.context import direction_of, format_number
from core.metrics.stats import t_quantile
from core.training.results import read_results

__all__ = ["infer_direction", "quantity", "band", "CompareRow", "Comparison", "compare_records", "compare_files",
           "render_comparison"]

_LOWER_UNITS = {"s", "sec", "secs", "second", "seconds", "ms", "us", "µs", "ns", "min", "mins", "minutes", "h",
                "hours", "b", "bytes", "kb", "mb", "gb", "kib", "mib", "gib"}
_HIGHER_WORDS = {"accuracy", "acc", "dice", "f1", "auc", "iou", "precision", "recall", "map", "bleu", "throughput",
                 "speedup", "hit", "hits", "ndcg", "mrr", "ap", "psnr", "ssim"}
_LOWER_WORDS = {"wer", "cer", "loss", "error", "err", "time", "latency", "memory", "perplexity", "ppl", "seconds",
                "hd95", "hausdorff", "overhead"}


def infer_direction(rec: dict) -> bool | None:
    """True if higher is better, False if lower is better, None if unknown (see module docstring)."""
    hib = rec.get("higher_is_better")
    if isinstance(hib, bool):
        return hib
    try:
        d = direction_of(rec.get("target"))
    except ValueError:
        d = None
    if d is not None:
        return d
    unit = str(rec.get("unit") or "").strip().lower()
    if unit.endswith("/s") or unit.endswith("/sec") or unit in ("hz", "fps"):
        return True
    if unit in _LOWER_UNITS:
        return False
    words = set(re.split(r"[^a-z0-9]+", str(rec.get("metric", "")).lower())) - {""}
    if words & _HIGHER_WORDS:
        return True
    if words & _LOWER_WORDS:
        return False
    return None


@dataclass
class CompareRow:
    key: tuple            # (suite, app, variant, metric, occurrence)
    old: dict | None
    new: dict | None
    context: str = ""     # extra keys telling repeated rows apart (e.g. "items=1000"), from the NEW side
    change: float | None = None       # relative change (new - old) / |old|
    higher_is_better: bool | None = None
    verdict: str = ""                 # regression | improvement | fixed | ~ | changed | info | added | removed | n/a
    note: str = ""
    on: str = "value"                 # what was compared: "ratio" or "value"

    @property
    def label(self) -> str:
        suite, app, variant, metric, occ = self.key
        if self.context:
            return f"{app} / {variant} / {metric} [{self.context}]"
        return f"{app} / {variant} / {metric}" + (f" #{occ + 1}" if occ else "")


@dataclass
class Comparison:
    threshold: float
    rows: list[CompareRow] = field(default_factory=list)
    gate_failures: list[str] = field(default_factory=list)   # NEW run empty / crashed / interrupted

    @property
    def failed(self) -> bool:
        """True when the gate fails: a regression, or a NEW run that is empty, crashed or interrupted."""
        return bool(self.regressions or self.gate_failures)

    @property
    def fixes(self) -> list[CompareRow]:
        return self._with("fixed")

    def _with(self, verdict: str) -> list[CompareRow]:
        return [r for r in self.rows if r.verdict == verdict]

    @property
    def regressions(self) -> list[CompareRow]:
        return self._with("regression")

    @property
    def improvements(self) -> list[CompareRow]:
        return self._with("improvement")

    @property
    def added(self) -> list[CompareRow]:
        return self._with("added")

    @property
    def removed(self) -> list[CompareRow]:
        return self._with("removed")


def _keyed(records: list[dict]) -> dict[tuple, dict]:
    seen: dict[tuple, int] = {}
    out = {}
    for r in records:
        base = (r.get("suite", ""), r.get("app", ""), r.get("variant", ""), r.get("metric", ""))
        occ = seen.get(base, 0)
        seen[base] = occ + 1
        out[base + (occ,)] = r
    return out


def _num(x) -> float | None:
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x):
        return None
    return float(x)


_TIME_UNITS = {"s", "sec", "secs", "second", "seconds", "ms", "us", "µs", "ns", "min", "mins", "minutes", "h", "hours"}


def quantity(rec: dict) -> tuple[float | None, str]:
    """(compared quantity, "ratio" | "value"): the ratio to the in-run baseline where there is one."""
    r = _num(rec.get("ratio"))
    if r is not None:
        return r, "ratio"
    return _num(rec.get("value")), "value"


def band(rec: dict, q: float, on: str, threshold: float) -> tuple[float, float]:
    """The noise band [lo, hi] of the compared quantity ``q`` of a record (at least q +- threshold * |q|)."""
    lo = hi = q
    iv = rec.get("interval")
    how = rec.get("judged_on")
    if on == "ratio" and isinstance(iv, list) and len(iv) == 2 and all(_num(v) is not None for v in iv):
        if how in ("median paired ratio", "paired ratio"):
            lo, hi = float(iv[0]), float(iv[1])
        elif how == "paired relative difference":
            lo, hi = 1.0 + float(iv[0]), 1.0 + float(iv[1])
    elif (on == "value" and isinstance(how, str) and how.startswith("median of") and isinstance(iv, list)
          and len(iv) == 2 and all(_num(v) is not None for v in iv)):        # ctx.record_samples
        lo, hi = float(iv[0]), float(iv[1])
    elif on == "value" and (rec.get("n_seeds") or 0) >= 2 and _num(rec.get("std")) is not None:
        h = t_quantile(int(rec["n_seeds"]) - 1) * float(rec["std"]) / math.sqrt(int(rec["n_seeds"]))
        lo, hi = q - h, q + h
    tol = threshold * abs(q)
    return min(lo, q - tol), max(hi, q + tol)


MIN_COVERAGE = 0.9   # a timing interval from fewer rounds (< 5) is too short to be a noise band


def _gated(rec: dict, on: str) -> bool:
    """Absolute times without an in-run baseline or a band follow the machine's load, and a timing ratio from
    too few rounds has no trustworthy band: neither is gated."""
    cov = _num(rec.get("interval_coverage"))
    if cov is not None and cov < MIN_COVERAGE:
        return False
    if rec.get("kind") in ("module", "suite"):
        return on == "ratio"
    unit = str(rec.get("unit") or "").strip().lower()
    if unit in _TIME_UNITS and rec.get("judged_on") != "median paired ratio":
        return False          # not an interleaved timing: the machine's load between runs decides it
    return True


def _judge_module(row: CompareRow) -> None:
    a, b = row.old.get("status"), row.new.get("status")
    row.change = None
    if a == "ok" and b != "ok":
        row.verdict, row.note = "regression", f"module now {b}: {row.new.get('error', '')}".rstrip(": ")
    elif a not in (None, "ok") and b == "ok":
        row.verdict, row.note = "fixed", f"module was {a}, now ok"
    elif b not in (None, "ok"):
        row.verdict, row.note = "info", f"module still {b}: {row.new.get('error', '')}".rstrip(": ")
    else:
        row.verdict, row.note = "info", "wall time (not gated: depends on the machine's load)"
        x, y = _num(row.old.get("value")), _num(row.new.get("value"))
        if x and y is not None:
            row.change = (y - x) / abs(x)


def _judge(row: CompareRow, threshold: float) -> None:
    old, new = row.old, row.new
    row.higher_is_better = infer_direction(new) if infer_direction(new) is not None else infer_direction(old)
    if old.get("kind") == "module" or new.get("kind") == "module":
        _judge_module(row)
        return
    if new.get("kind") == "suite":
        row.verdict, row.note = "info", "whole-run wall time (not gated)"
        return
    (a, on_a), (b, on_b) = quantity(old), quantity(new)
    row.on = on_b
    if a is None or b is None:
        row.verdict = "n/a" if a is None else "regression"
        row.note = "no value in new" if b is None and a is not None else "no value in old"
        return
    if on_a != on_b:  # a baseline appeared or vanished: compare the values
        (a, on_a), (b, on_b) = (_num(old.get("value")), "value"), (_num(new.get("value")), "value")
        row.on = "value"
        if a is None or b is None:
            row.verdict, row.note = "n/a", "the baseline appeared or vanished"
            return
    if a == 0:
        row.change = 0.0 if b == 0 else math.copysign(math.inf, b)
    else:
        row.change = (b - a) / abs(a)
    lo_a, hi_a = band(old, a, row.on, threshold)
    lo_b, hi_b = band(new, b, row.on, threshold)
    apart_up = b > hi_a and a < lo_b        # new above both bands
    apart_down = b < lo_a and a > hi_b      # new below both bands
    if not (apart_up or apart_down):
        row.verdict = "~"
    elif not (_gated(new, row.on) and _gated(old, row.on)):
        few = any((_num(r.get("interval_coverage")) or 1.0) < MIN_COVERAGE for r in (old, new))
        row.verdict = "changed"
        row.note = ("too few timing rounds for a noise band (smoke): not gated" if few
                    else "a time not measured interleaved follows the machine's load: not gated")
    elif row.higher_is_better is None:
        row.verdict = "changed"
    else:
        better = apart_up if row.higher_is_better else apart_down
        row.verdict = "improvement" if better else "regression"
    vo, vn = old.get("verdict") or _pv(old), new.get("verdict") or _pv(new)
    if vo == "met" and vn in ("missed", "within noise"):
        row.note = (row.note + "; " if row.note else "") + f"target was met, now {vn}"
    elif vo in ("missed", "within noise") and vn == "met":
        row.note = (row.note + "; " if row.note else "") + "target now met"


def _pv(rec: dict) -> str | None:
    if not rec.get("target"):
        return None
    return {True: "met", False: "missed"}.get(rec.get("met"))


def compare_records(old: list[dict], new: list[dict], threshold: float = 0.05) -> Comparison:
    """Join old and new records and judge every joined row (see module docstring)."""
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not (threshold >= 0):
        raise ValueError(f"threshold={threshold!r} must be a number >= 0 (a relative change, 0.05 = 5%)")
    skip = ("note", "headline")
    old = [r for r in old if r.get("kind") not in skip]
    new = [r for r in new if r.get("kind") not in skip]
    ko, kn = _keyed(old), _keyed(new)
    ctx_new = _contexts_by_key(new, kn)
    ctx_old = _contexts_by_key(old, ko)
    cmp = Comparison(float(threshold))
    for key, rec in kn.items():
        row = CompareRow(key, ko.get(key), rec, context=ctx_new.get(key, ""))
        if row.old is None:
            row.verdict = "added"
        else:
            _judge(row, threshold)
        cmp.rows.append(row)
    for key, rec in ko.items():
        if key not in kn:
            row = CompareRow(key, rec, None, context=ctx_old.get(key, ""), verdict="removed")
            if rec.get("kind") == "module":
                row.verdict, row.note = "regression", "module missing in NEW"
            cmp.rows.append(row)
    for side, rows, other in (("OLD", old, new), ("NEW", new, old)):
        cmp.gate_failures += _run_failures(side, rows, other)
    return cmp


def _run_failures(side: str, rows: list[dict], other: list[dict]) -> list[str]:
    """Why one side of the comparison cannot be gated on: empty, crashed (no end-of-run record), interrupted."""
    what = "the baseline" if side == "OLD" else "the candidate"
    if not rows:
        return [f"{side} run is empty (no results): {what} recorded nothing; did it crash before recording anything?"]
    out = []
    suite = [r for r in rows if r.get("kind") == "suite"]
    if not suite:
        out.append(f"{side} run has no end-of-run record: {what} crashed or is still running")
    elif any(r.get("status") == "interrupted" for r in suite):
        out.append(f"{side} run was interrupted: {what} holds part of a run")
    if not any(r.get("kind") == "module" for r in rows) and any(r.get("kind") == "module" for r in other):
        out.append(f"{side} run has no module records")
    return out


def _contexts_by_key(records: list[dict], keyed: dict[tuple, dict]) -> dict[tuple, str]:
    """Join key -> context string of repeated rows (computed per app, as in the report tables)."""
    from benchmarks.report import row_contexts

    ids = {id(r): k for k, r in keyed.items()}
    out: dict[tuple, str] = {}
    by_app: dict[tuple, list[dict]] = {}
    for r in records:
        by_app.setdefault((r.get("suite", ""), r.get("app", "")), []).append(r)
    for recs in by_app.values():
        for r, c in zip(recs, row_contexts(recs)):
            if c:
                out[ids[id(r)]] = c
    return out


def _results_path(p) -> Path:
    """A results.jsonl file, or a run folder holding one."""
    p = Path(p)
    return p / "results.jsonl" if p.is_dir() else p


_REQUIRED = ("app", "variant", "metric")


def compare_files(old_path, new_path, threshold: float = 0.05, *, only: list[str] | None = None) -> Comparison:
    """Compare two results files (or run folders holding ``results.jsonl``); a malformed line is a named ValueError.

    ``only``: module names / apps to compare (the rows of other apps and their module records are left out;
    the end-of-run record is kept).
    """
    old = read_results(_results_path(old_path), required=_REQUIRED)
    new = read_results(_results_path(new_path), required=_REQUIRED)
    if only:
        keep = set(only)
        known = {r.get("app") for r in old + new} | {r.get("module") for r in old + new if r.get("module")}
        unknown = sorted(keep - known)
        if unknown:
            raise ValueError(f"--only {', '.join(unknown)}: no such app or module in either run; "
                             f"valid: {', '.join(sorted(str(k) for k in known if k and not str(k).startswith('(')))}")
        sel = lambda rows: [r for r in rows if r.get("kind") == "suite" or r.get("app") in keep  # noqa: E731
                            or r.get("module") in keep]
        old, new = sel(old), sel(new)
    return compare_records(old, new, threshold)


def _change(c: float | None) -> str:
    if c is None:
        return "—"
    if math.isinf(c):
        return "+inf" if c > 0 else "-inf"
    return f"{c * 100:+.1f}%"


def render_comparison(cmp: Comparison, *, changed_only: bool = False) -> str:
    """Markdown: the gate's verdict, the joined table, then regressions, fixes, added and removed rows."""
    arrow = {True: "higher", False: "lower", None: "?"}
    mark = {"regression": "**REGRESSION**", "improvement": "improved", "fixed": "fixed", "~": "~ (noise)",
            "changed": "changed", "info": "info", "n/a": "n/a"}
    gate = "FAILS" if cmp.failed else "passes"
    lines = [f"Gate {gate}: {len(cmp.regressions)} regression(s), {len(cmp.fixes)} fix(es), "
             f"{len(cmp.improvements)} improvement(s), {len(cmp.added)} added, {len(cmp.removed)} removed. "
             f"A change counts when it leaves the noise band of both runs (bands at least "
             f"+-{cmp.threshold * 100:g}%); ratios to the in-run baseline are compared where a figure has one.", ""]
    for g in cmp.gate_failures:
        lines.append(f"- **GATE FAILURE**: {g}")
    if cmp.gate_failures:
        lines.append("")
    lines += ["| suite | app / variant / metric | on | old | new | change | better | verdict | note |",
              "|---|---|---|---:|---:|---:|---|---|---|"]
    for r in cmp.rows:
        if r.old is None or r.new is None:
            continue
        if changed_only and r.verdict in ("~", "info"):
            continue
        qo = quantity(r.old)[0] if r.on == "ratio" else r.old.get("value")
        qn = quantity(r.new)[0] if r.on == "ratio" else r.new.get("value")
        unit = "" if r.on == "ratio" else (r.new.get("unit") or "")
        lines.append(f"| {r.key[0]} | {r.label} | {r.on} | {format_number(qo)} | {format_number(qn)} {unit} | "
                     f"{_change(r.change)} | {arrow[r.higher_is_better]} | {mark.get(r.verdict, r.verdict)} | "
                     f"{r.note} |")
    joined = [r for r in cmp.rows if r.old is not None and r.new is not None]
    if not joined and cmp.added and cmp.removed:
        suites = lambda rows, side: sorted({str(getattr(r, side).get("suite")) for r in rows})  # noqa: E731
        lines += ["", f"No row in common: OLD has suite(s) {', '.join(suites(cmp.removed, 'old'))}, "
                      f"NEW has {', '.join(suites(cmp.added, 'new'))} (rows are joined on suite, app, variant, metric)."]
    for title, rows, side in (("Regressions", cmp.regressions, "new"), ("Fixed", cmp.fixes, "new"),
                              ("Added (only in NEW)", cmp.added, "new"), ("Removed (only in OLD)", cmp.removed, "old")):
        if rows:
            lines += ["", f"{title}:"]
            for r in rows:
                rec = r.new if r.new is not None else r.old
                extra = f" ({_change(r.change)}{', ' + r.note if r.note else ''})" if title in ("Regressions", "Fixed") \
                    else ""
                lines.append(f"- {r.key[0]}: {r.label} = {format_number(rec.get('value'))} "
                             f"{rec.get('unit') or ''}{extra}".rstrip())
    return "\n".join(lines) + "\n"
