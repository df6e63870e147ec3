"""JSON-lines results: one measured figure a line, keyed so that a re-run replaces its rows instead of duplicating them.

Key of a row: ``KEY_FIELDS`` = (suite, app, variant, metric, seed) plus its *occurrence*: the n-th row a
writer writes with the same key (e.g. the points of a scaling curve) is occurrence n, and the n-th row of
that key already in the file is the one it replaces (in place, the file order is kept). ``suite`` names
the suite or the run (an app's own results use it for the run name or leave it empty).

Every write is atomic (``core.training.atomic``): the whole file is written to a hidden ``.<name>.tmp-<pid>``,
fsynced, renamed over the old one with ``os.replace`` and the folder fsynced, so a reader never sees half a line
and a crash (or a power cut) leaves the previous file intact.
Only rank 0 writes (other ranks build and return the record).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from core.training.atomic import atomic_write_text
from core.training.distributed import is_main_process

__all__ = ["RESULT_FIELDS", "KEY_FIELDS", "ResultsWriter", "read_results", "result_key", "git_commit"]

RESULT_FIELDS = ("suite", "app", "variant", "metric", "value", "unit", "baseline", "target", "device", "seed", "commit", "wall_s")
# optional fields with a fixed meaning (written when known): see docs/ARCHITECTURE.md "Benchmarks"
#   ratio, met, verdict ("met" | "missed" | "within noise" | "not judged"), interval [lo, hi] of the judged
#   quantity, noise_floor, noise_interval, n_seeds, std, per_seed, indicative, peer, kind, higher_is_better
KEY_FIELDS = ("suite", "app", "variant", "metric", "seed")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Short hash of the checkout this code runs from, or "unknown"."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _clean(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if hasattr(v, "item") and callable(v.item):
        try:
            return _clean(v.item())
        except (ValueError, RuntimeError):
            return str(v)
    return v


def result_key(rec: dict) -> tuple:
    """The KEY_FIELDS values of a record (JSON-encoded so that any value type compares)."""
    return tuple(json.dumps(rec.get(k), sort_keys=True, default=str) for k in KEY_FIELDS)


class ResultsWriter:
    """Write records to ``path`` (JSON lines), replacing a row with the same key and occurrence. Only rank 0 writes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._seen: dict[tuple, int] = {}       # key -> rows written by this writer with that key
        self._rows: list[dict] | None = None     # cached file content (valid while the file is as we left it)
        self._stamp = None
        if is_main_process():
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _load(self) -> list[dict]:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return []
        if self._rows is None or stamp != self._stamp:
            self._rows = read_results(self.path)
        return self._rows

    def write(self, app: str, variant: str, metric: str, value, unit: str = "", *, suite: str = "",
              baseline=None, target=None, device: str = "cpu", seed=None, wall_s=None, **extra) -> dict:
        rec = {
            "suite": suite, "app": app, "variant": variant, "metric": metric, "value": _clean(value), "unit": unit,
            "baseline": _clean(baseline), "target": target, "device": device, "seed": seed,
            "commit": git_commit(), "wall_s": _clean(wall_s),
        }
        for k, v in extra.items():
            rec[k] = _clean(v)
        rec.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%S"))
        rec = json.loads(json.dumps(rec, default=str))  # exactly what a reader gets back
        key = result_key(rec)
        occ = self._seen.get(key, 0)
        self._seen[key] = occ + 1
        if not is_main_process():
            return rec
        rows = list(self._load())
        n = 0
        for i, r in enumerate(rows):
            if result_key(r) == key:
                if n == occ:
                    rows[i] = rec
                    break
                n += 1
        else:
            rows.append(rec)
        self._store(rows)
        return rec

    def _store(self, rows: list[dict]) -> None:
        atomic_write_text(self.path, "".join(json.dumps(r, default=str) + "\n" for r in rows))
        st = self.path.stat()
        self._rows, self._stamp = rows, (st.st_mtime_ns, st.st_size, st.st_ino)

    def write_records(self, records: list[dict]) -> list[dict]:
        """Add already-formed records (e.g. read from another results file: a benchmark worker's) in one atomic
        write, each keyed as ``write`` keys its record (same key and occurrence: replaced in place, else appended).
        Returns the records. Only rank 0 writes."""
        recs = [json.loads(json.dumps({k: _clean(v) for k, v in r.items()}, default=str)) for r in records]
        if not is_main_process():
            for rec in recs:
                key = result_key(rec)
                self._seen[key] = self._seen.get(key, 0) + 1
            return recs
        rows = list(self._load())
        for rec in recs:
            key = result_key(rec)
            occ = self._seen.get(key, 0)
            self._seen[key] = occ + 1
            n = 0
            for i, r in enumerate(rows):
                if result_key(r) == key:
                    if n == occ:
                        rows[i] = rec
                        break
                    n += 1
            else:
                rows.append(rec)
        self._store(rows)
        return recs


def read_results(path: str | os.PathLike, *, required: tuple[str, ...] = ()) -> list[dict]:
    """Read a JSON-lines results file.

    A line that is not valid JSON, not a JSON object, or lacks one of ``required`` raises ValueError
    naming the file and the line number. Blank lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{i}: a results line must be a JSON object, got {type(row).__name__}: "
                                 f"{line[:60]}")
            missing = [k for k in required if not isinstance(row.get(k), str) or not row.get(k)]
            if missing:
                raise ValueError(f"{path}:{i}: missing or empty field(s) {', '.join(missing)} "
                                 f"(every results line needs {', '.join(required)})")
            rows.append(row)
    return rows
