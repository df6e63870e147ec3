"""Compare two benchmark result files: ``sparselab bench compare OLD.jsonl NEW.jsonl [--threshold 0.05]``.

Rows are joined on (suite, app, variant, metric); a key that repeats inside one file (e.g. the points
of a scaling curve) is matched in order of appearance (#1, #2, ...). The relative change
(new - old) / |old| is a regression when it goes the wrong way by more than ``threshold``. Which way
is better comes from, in order: the record's ``higher_is_better``; its target ('>=', '>' higher;
'<=', '<' lower); its unit (time and memory units lower, rates '.../s' higher); words of its metric
name (accuracy, dice, f1, auc, iou, ... higher; wer, cer, loss, error, time, latency, ... lower).
Rows whose direction stays unknown are shown but never flagged. A benchmark module that was ok and
now fails is always a regression.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.context import direction_of, format_number
from core.training.results import read_results

__all__ = ["infer_direction", "CompareRow", "Comparison", "compare_records", "compare_files", "render_comparison"]

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
    verdict: str = ""                 # regression | improvement | ~ | changed | added | removed | n/a
    note: str = ""

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


def _judge(row: CompareRow, threshold: float) -> None:
    old, new = row.old, row.new
    row.higher_is_better = infer_direction(new) if infer_direction(new) is not None else infer_direction(old)
    if old.get("kind") == "module" and old.get("status") == "ok" and new.get("status") not in (None, "ok"):
        row.verdict, row.note = "regression", f"module now fails: {new.get('error', '')}"
        return
    a, b = _num(old.get("value")), _num(new.get("value"))
    if a is None or b is None:
        row.verdict = "n/a" if a is None else "regression"
        row.note = "no value in new" if b is None and a is not None else "no value in old"
        return
    if a == 0:
        row.change = 0.0 if b == 0 else math.copysign(math.inf, b)
    else:
        row.change = (b - a) / abs(a)
    if abs(row.change) <= threshold:
        row.verdict = "~"
    elif row.higher_is_better is None:
        row.verdict = "changed"
    else:
        better = row.change > 0 if row.higher_is_better else row.change < 0
        row.verdict = "improvement" if better else "regression"
    if old.get("met") is True and new.get("met") is False:
        row.note = "target lost"
    elif old.get("met") is False and new.get("met") is True:
        row.note = "target now met"


def compare_records(old: list[dict], new: list[dict], threshold: float = 0.05) -> Comparison:
    """Join old and new records and judge every joined row (see module docstring)."""
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not (threshold >= 0):
        raise ValueError(f"threshold={threshold!r} must be a number >= 0 (a relative change, 0.05 = 5%)")
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
            cmp.rows.append(CompareRow(key, rec, None, context=ctx_old.get(key, ""), verdict="removed"))
    return cmp


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


def compare_files(old_path, new_path, threshold: float = 0.05) -> Comparison:
    """Compare two results files (or run folders holding ``results.jsonl``)."""
    return compare_records(read_results(_results_path(old_path)), read_results(_results_path(new_path)), threshold)


def _change(c: float | None) -> str:
    if c is None:
        return "—"
    if math.isinf(c):
        return "+inf" if c > 0 else "-inf"
    return f"{c * 100:+.1f}%"


def render_comparison(cmp: Comparison, *, changed_only: bool = False) -> str:
    """Markdown: the joined table, then regressions, added and removed rows."""
    arrow = {True: "higher", False: "lower", None: "?"}
    mark = {"regression": "**REGRESSION**", "improvement": "improved", "~": "~ (noise)", "changed": "changed",
            "n/a": "n/a"}
    lines = [f"Threshold: {cmp.threshold * 100:g}% relative change. "
             f"{len(cmp.regressions)} regression(s), {len(cmp.improvements)} improvement(s), "
             f"{len(cmp.added)} added, {len(cmp.removed)} removed.", "",
             "| suite | app / variant / metric | old | new | unit | change | better | verdict | note |",
             "|---|---|---:|---:|---|---:|---|---|---|"]
    for r in cmp.rows:
        if r.verdict in ("added", "removed"):
            continue
        if changed_only and r.verdict == "~":
            continue
        lines.append(f"| {r.key[0]} | {r.label} | {format_number(r.old.get('value'))} | "
                     f"{format_number(r.new.get('value'))} | {r.new.get('unit') or ''} | {_change(r.change)} | "
                     f"{arrow[r.higher_is_better]} | {mark[r.verdict]} | {r.note} |")
    joined = [r for r in cmp.rows if r.verdict not in ("added", "removed")]
    if not joined and cmp.added and cmp.removed:
        suites = lambda rows, side: sorted({str(getattr(r, side).get("suite")) for r in rows})  # noqa: E731
        lines += ["", f"No row in common: OLD has suite(s) {', '.join(suites(cmp.removed, 'old'))}, "
                      f"NEW has {', '.join(suites(cmp.added, 'new'))} (rows are joined on suite, app, variant, metric)."]
    for title, rows, side in (("Regressions", cmp.regressions, "new"), ("Added (only in NEW)", cmp.added, "new"),
                              ("Removed (only in OLD)", cmp.removed, "old")):
        if rows:
            lines += ["", f"{title}:"]
            for r in rows:
                rec = getattr(r, side)
                extra = f" ({_change(r.change)}{', ' + r.note if r.note else ''})" if title == "Regressions" else ""
                lines.append(f"- {r.key[0]}: {r.label} = {format_number(rec.get('value'))} "
                             f"{rec.get('unit') or ''}{extra}".rstrip())
    return "\n".join(lines) + "\n"
