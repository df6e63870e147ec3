"""JSON-lines results: one measured figure a line, with the fields the benchmark report reads."""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from core.training.distributed import is_main_process

__all__ = ["RESULT_FIELDS", "ResultsWriter", "read_results", "git_commit"]

RESULT_FIELDS = ("suite", "app", "variant", "metric", "value", "unit", "baseline", "target", "device", "seed", "commit", "wall_s")


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
    if hasattr(v, "item") and callable(v.item):
        try:
            return _clean(v.item())
        except (ValueError, RuntimeError):
            return str(v)
    return v


class ResultsWriter:
    """Append records to ``path`` (JSON lines). Only rank 0 writes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if is_main_process():
            self.path.parent.mkdir(parents=True, exist_ok=True)

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
        if is_main_process():
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, default=str) + "\n")
        return rec


def read_results(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines results file; a broken line raises ValueError with its line number."""
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
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from e
    return rows
