"""Run a comparison set: named runs x seeds of one app's training CLI, with declared dependencies between runs.

A comparison is a YAML file (an app keeps them in ``apps/<app>/configs/sets/``); each run is a list of Hydra
overrides, usually one ``experiment=<name>`` that selects a ``configs/experiment/<name>.yaml``
(lightning-hydra-template style)::

    entry: apps.msrs.train              # module started with `python -m`
    seeds: [0, 1, 2]
    seed_key: trainer.seed              # override that sets the seed
    run_dir_key: run_dir                # override that sets the run folder
    common: [preset=grid]               # overrides for every run
    runs:
      dense: [experiment=vsr_dense]
      msrs_s: [experiment=vsr_msrs_s]
      rigl_at_msrs_density:
        overrides: [experiment=vsr_rigl]
        needs: {msrs_s: {sparse.density: density}}   # runs after msrs_s (same seed); its summary's `density`
                                                       # becomes the override sparse.density=<value>

Each (run, seed) trains in its own process into ``<out>/<run>/seed<k>`` through the app's CLI, so the shared
loop's run lifecycle applies: a finished run is not retrained (its summary is read back), a killed run resumes
from its newest checkpoint, a run whose configuration changed refuses to resume. No run reads another run's
output unless the set declares it with ``needs``. The summaries of every finished (run, seed) of the set under
``<out>`` -- this invocation's and earlier ones', so runs trained a few seeds or runs at a time add up -- are gathered
into ``<out>/summaries.jsonl`` (one line per run and seed, rewritten atomically).

A set file is data, not code, and may come from elsewhere: ``load_set`` refuses, before anything runs,

* an ``entry`` that is not one of the project's own training modules (``ALLOWED_ENTRIES``: ``apps.<app>.train`` for
  every ``apps/<app>/configs/train.yaml``), so a set cannot start ``timeit``, ``runpy`` or any other module;
* an item that is not a Hydra override ``key=value`` (``+key=value``, ``++key=value``, ``~key``, ``group@pkg=option``
  allowed): nothing starting with ``-`` (no raw command-line options), no key under ``hydra`` (``hydra.callbacks``,
  ``hydra/launcher``, ...) and nothing naming ``_target_`` (Hydra instantiation runs code).

Each run is started with an argument list (``subprocess.run([python, "-m", entry, *overrides])``), never a shell.
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.training.atomic import atomic_write_text

__all__ = ["ComparisonSet", "RunSpec", "load_set", "run_set", "finished_summary", "finished_runs",
           "first_at_or_below", "write_summaries", "main", "project_entries", "check_override", "check_overrides",
           "UnsafeSetError"]

_REPO = Path(__file__).resolve().parents[2]


class UnsafeSetError(ValueError):
    """A comparison set asks for something a set may not do (run a module outside the project's training
    entries, pass raw options, override Hydra itself or instantiate a class); nothing was run."""


def project_entries(root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The project's own training modules: ``apps.<app>.train`` for every ``apps/<app>/configs/train.yaml`` that has
    its ``apps/<app>/train.py`` (found on disk, so core imports no app)."""
    apps = Path(root) / "apps" if root is not None else _REPO / "apps"
    return tuple(sorted(f"apps.{p.parent.parent.name}.train" for p in apps.glob("*/configs/train.yaml")
                        if (p.parent.parent / "train.py").is_file()
                        and re.fullmatch(r"[A-Za-z_]\w*", p.parent.parent.name)))


# Hydra's override grammar, the parts a set may use: [+|++|~]key[@package][=value]
_ID = r"[A-Za-z_$][\w$\-]*"
_SEG = rf"(?:{_ID}|\d+)"
_KEY = rf"{_SEG}(?:[./]{_SEG})*"
_OVERRIDE_RE = re.compile(rf"^(?P<prefix>\+\+|\+|~)?(?P<key>{_KEY})(?:@(?P<pkg>{_KEY})?)?(?P<eq>=(?P<value>.*))?$",
                          re.DOTALL)


def check_override(item, *, where: str = "") -> str:
    """``item`` if it is a Hydra override a comparison set may pass, else ``UnsafeSetError`` naming it (``where``:
    the file and entry, for the message). See the module docstring for what is refused and why."""
    w = f"{where}: " if where else ""
    if not isinstance(item, str):
        raise UnsafeSetError(f"{w}{item!r} is not an override string (key=value)")
    if item.startswith("-"):
        raise UnsafeSetError(f"{w}{item!r} is a command-line option, not an override; a set passes overrides "
                             f"key=value only (refused, nothing was run)")
    m = _OVERRIDE_RE.match(item)
    if m is None or (m.group("eq") is None and m.group("prefix") != "~"):
        raise UnsafeSetError(f"{w}{item!r} is not a valid override; use key=value, +key=value, ++key=value or ~key "
                             f"(refused, nothing was run)")
    key, pkg = m.group("key"), m.group("pkg") or ""
    for name in (key, pkg):
        if re.split(r"[./]", name)[0] == "hydra":
            raise UnsafeSetError(f"{w}{item!r} overrides Hydra itself ({name}); a set may only set the app's own "
                                 f"configuration (refused, nothing was run)")
    if "_target_" in item:
        raise UnsafeSetError(f"{w}{item!r} names _target_ (Hydra would instantiate, i.e. run, what it names); "
                             f"refused, nothing was run")
    return item


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _handover_value(value, run: str, skey: str, dep: str) -> str:
    """A value from ``dep``'s summary as the right-hand side of an override: a number, a string, or a list of
    numbers (``[0.98,0.5,...]``, e.g. learned per-layer densities); anything else is an error naming it."""
    if _is_number(value) or isinstance(value, str):
        return str(value)
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        return "[" + ",".join(repr(v) for v in value) + "]"
    raise ValueError(f"run {run!r} needs {skey!r} from {dep!r}'s summary: a number, a string or a list of numbers, "
                     f"got {type(value).__name__}")


def check_overrides(items, *, where: str = "") -> list[str]:
    """Each item through ``check_override``; the list."""
    if not isinstance(items, (list, tuple)):
        raise UnsafeSetError(f"{where}: must be a list of overrides (key=value), got {type(items).__name__}")
    return [check_override(x, where=where) for x in items]


@dataclass
class RunSpec:
    name: str
    overrides: list[str]
    needs: dict[str, dict[str, str]] = field(default_factory=dict)   # run -> {override key: summary key}


@dataclass
class ComparisonSet:
    path: Path
    entry: str
    seeds: list[int]
    runs: dict[str, RunSpec]
    common: list[str] = field(default_factory=list)
    seed_key: str = "trainer.seed"
    run_dir_key: str = "run_dir"
    description: str = ""
    allowed_entries: tuple[str, ...] | None = None   # None: the project's own training modules (project_entries())

    def __post_init__(self) -> None:
        """Everything a set asks to run is checked here, so a set built in code is held to the same rules."""
        allowed = project_entries() if self.allowed_entries is None else tuple(self.allowed_entries)
        if self.entry not in allowed:
            raise UnsafeSetError(f"{self.path}: entry {self.entry!r} is not one of the project's training modules "
                                 f"({', '.join(allowed) or 'none found'}); refused, nothing was run")
        check_overrides(self.common, where=f"{self.path}: common")
        for key, what in ((self.seed_key, "seed_key"), (self.run_dir_key, "run_dir_key")):
            check_override(f"{key}=0", where=f"{self.path}: {what}")
            if not re.fullmatch(_KEY, str(key)):
                raise UnsafeSetError(f"{self.path}: {what} {key!r} is not a config key")
        for r in self.runs.values():
            check_overrides(r.overrides, where=f"{self.path}: run {r.name!r}")
            for dep, keys in r.needs.items():
                for okey in keys:
                    if not re.fullmatch(_KEY, okey):
                        raise UnsafeSetError(f"{self.path}: run {r.name!r} needs: {okey!r} is not a config key")
                    check_override(f"{okey}=0", where=f"{self.path}: run {r.name!r} needs")

    def order(self) -> list[str]:
        """Run names with every dependency before its dependants (cycles are an error)."""
        done: list[str] = []
        visiting: set[str] = set()

        def visit(n: str, chain: tuple[str, ...]) -> None:
            if n in done:
                return
            if n in visiting:
                raise ValueError(f"{self.path}: dependency cycle {' -> '.join(chain + (n,))}")
            visiting.add(n)
            for d in self.runs[n].needs:
                visit(d, chain + (n,))
            visiting.discard(n)
            done.append(n)

        for n in self.runs:
            visit(n, ())
        return done


def load_set(path: str | os.PathLike, *, allowed_entries: Sequence[str] | None = None) -> ComparisonSet:
    """Parse and check a comparison file; errors name the file and the offending entry. ``allowed_entries``: the
    modules a set may start (default: the project's training modules, ``project_entries()``); anything else, and any
    item that is not a plain override, is refused here (``UnsafeSetError``), before anything runs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"comparison set not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict) or "entry" not in raw or "runs" not in raw:
        raise ValueError(f"{path}: needs at least 'entry' (a module to run) and 'runs' (name -> overrides)")
    allowed = project_entries() if allowed_entries is None else tuple(allowed_entries)
    if raw["entry"] not in allowed:   # first: the module is what would run the rest
        raise UnsafeSetError(f"{path}: entry {raw['entry']!r} is not one of the project's training modules "
                             f"({', '.join(allowed) or 'none found'}); refused, nothing was run")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"{path}: seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    runs: dict[str, RunSpec] = {}
    if not isinstance(raw["runs"], dict) or not isinstance(raw.get("common", []), list):
        raise ValueError(f"{path}: 'runs' must map run names to overrides and 'common' must be a list of overrides")
    for name, spec in (raw["runs"] or {}).items():
        if isinstance(spec, list):
            spec = {"overrides": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("overrides", []), list):
            raise ValueError(f"{path}: run {name!r} must be a list of overrides or {{overrides: [...], needs: {{...}}}}")
        needs = spec.get("needs") or {}
        if not isinstance(needs, dict) or not all(isinstance(v, dict) for v in needs.values()):
            raise ValueError(f"{path}: run {name!r}: needs must map a run name to {{override key: summary key}}")
        check_overrides(spec.get("overrides", []), where=f"{path}: run {name!r}")
        runs[str(name)] = RunSpec(str(name), list(spec.get("overrides", [])),
                                  {str(k): {str(a): str(b) for a, b in v.items()} for k, v in needs.items()})
    if not runs:
        raise ValueError(f"{path}: 'runs' is empty")
    for r in runs.values():
        unknown = [d for d in r.needs if d not in runs]
        if unknown:
            raise ValueError(f"{path}: run {r.name!r} needs {unknown}, which the set does not define")
    cs = ComparisonSet(path=path, entry=str(raw["entry"]), seeds=list(seeds), runs=runs,
                       common=check_overrides(raw.get("common") or [], where=f"{path}: common"),
                       seed_key=str(raw.get("seed_key", "trainer.seed")),
                       run_dir_key=str(raw.get("run_dir_key", "run_dir")), description=str(raw.get("description", "")),
                       allowed_entries=allowed)
    cs.order()
    return cs


def finished_summary(run_dir: Path) -> dict | None:
    """The run folder's ``summary.json`` when it records a finished run, else None."""
    p = Path(run_dir) / "summary.json"
    if not p.is_file():
        return None
    s = json.loads(p.read_text())
    return s if s.get("status") == "finished" else None


def _lookup(summary: dict, dotted: str):
    cur = summary
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(dotted)
        cur = cur[part]
    return cur


def run_set(cs: ComparisonSet, out: str | os.PathLike, *, seeds: Sequence[int] | None = None,
            only: Sequence[str] | None = None, extra: Sequence[str] = (), env: dict | None = None,
            log=print) -> list[dict]:
    """Train every (run, seed) not finished yet, in dependency order; returns one record per (run, seed)."""
    out = Path(out)
    cs.__post_init__()   # the set may have been changed since it was loaded: the same checks again, before any run
    extra = check_overrides(list(extra), where="extra overrides")
    seeds = list(seeds) if seeds is not None else cs.seeds
    wanted = set(only) if only else set(cs.runs)
    bad = wanted - set(cs.runs)
    if bad:
        raise ValueError(f"unknown run(s) {sorted(bad)}; {cs.path} defines {sorted(cs.runs)}")
    # a wanted run pulls in what it needs
    stack = list(wanted)
    while stack:
        for d in cs.runs[stack.pop()].needs:
            if d not in wanted:
                wanted.add(d)
                stack.append(d)
    records = []
    for name in [n for n in cs.order() if n in wanted]:
        spec = cs.runs[name]
        for seed in seeds:
            run_dir = out / name / f"seed{seed}"
            summary = finished_summary(run_dir)
            if summary is None:
                dep_over = []
                for dep, keys in spec.needs.items():
                    ds = finished_summary(out / dep / f"seed{seed}")
                    if ds is None:
                        raise RuntimeError(f"run {name!r} (seed {seed}) needs run {dep!r}, which did not finish")
                    for okey, skey in keys.items():
                        try:
                            value = _lookup(ds, skey)
                        except KeyError:
                            raise KeyError(f"run {name!r} needs {skey!r} from {dep!r}'s summary, which has "
                                           f"{sorted(ds)}") from None
                        dep_over.append(check_override(f"{okey}={_handover_value(value, name, skey, dep)}",
                                                       where=f"run {name!r}: value handed over from {dep!r}"))
                cmd = [sys.executable, "-m", cs.entry, *cs.common, *spec.overrides, *dep_over, *extra,
                       f"{cs.seed_key}={seed}", f"{cs.run_dir_key}={run_dir}"]
                log(f"[{name} seed {seed}] " + " ".join(cmd[3:]))
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, env={**os.environ, **(env or {})})
                if proc.returncode != 0:
                    raise RuntimeError(f"run {name!r} seed {seed} failed (exit {proc.returncode}); rerun the set "
                                       f"to resume it from {run_dir}")
                summary = finished_summary(run_dir)
                if summary is None:
                    raise RuntimeError(f"run {name!r} seed {seed} exited 0 but wrote no finished summary in {run_dir}")
                log(f"[{name} seed {seed}] done in {time.perf_counter() - t0:.0f} s")
            records.append({"run": name, "seed": seed, "run_dir": str(run_dir), "summary": summary})
    write_summaries(cs, out)
    return records


def finished_runs(out: str | os.PathLike, names: Sequence[str] | None = None) -> dict[str, dict[int, dict]]:
    """``{run: {seed: summary}}`` of every finished ``<out>/<run>/seed<k>`` (only the ``names`` runs, in that order,
    when given; otherwise every run folder, sorted), seeds ascending."""
    out = Path(out)
    names = list(names) if names is not None else sorted(d.name for d in out.glob("*") if d.is_dir())
    runs: dict[str, dict[int, dict]] = {}
    for name in names:
        for seed in sorted(int(d.name[4:]) for d in (out / name).glob("seed*") if d.name[4:].isdigit()):
            summary = finished_summary(out / name / f"seed{seed}")
            if summary is not None:
                runs.setdefault(name, {})[seed] = summary
    return runs


def first_at_or_below(curve: Sequence[dict], goal: float, key: str) -> dict | None:
    """The first evaluation of ``curve`` whose ``key`` (an error such as a WER) is at or below ``goal``; None if
    none is. The reports' "time to the baseline's final quality" reads its step and CPU seconds."""
    return next((p for p in curve if p[key] <= goal + 1e-12), None)


def write_summaries(cs: ComparisonSet, out: str | os.PathLike) -> list[dict]:
    """(Re)write ``<out>/summaries.jsonl``: one record per finished (run, seed) of the set under ``out``, in the
    set's order, seeds ascending, whichever invocation trained it. Returns the records."""
    out = Path(out)
    recs = [{"run": name, "seed": seed, "run_dir": str(out / name / f"seed{seed}"), "summary": summary}
            for name, seeds in finished_runs(out, cs.order()).items() for seed, summary in seeds.items()]
    text = "".join(json.dumps(r) + "\n" for r in recs)
    path = out / "summaries.jsonl"
    try:
        if path.is_file() and path.read_text() == text:
            return recs            # unchanged: nothing to write (an archived, read-only folder is fine)
        atomic_write_text(path, text)
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        print(f"note: {path} not updated ({e.strerror}: a read-only folder); the summaries are returned", flush=True)
    return recs


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sparselab run", description="Run a comparison set (runs x seeds).")
    ap.add_argument("set", help="path to a comparison YAML (apps/<app>/configs/sets/<name>.yaml)")
    ap.add_argument("--out", required=True, help="folder for the runs (resumed/skipped when rerun)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: the set's)")
    ap.add_argument("--only", default=None, help="comma-separated run names (their dependencies are added)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    a = ap.parse_intermixed_args(argv)   # overrides may follow the options: SET --out D --only a k=v
    cs = load_set(a.set)
    seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else None
    only = a.only.split(",") if a.only else None
    run_set(cs, a.out, seeds=seeds, only=only, extra=a.overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
