"""Discover benchmark modules, run them one after another, write results.jsonl + run.json + REPORT.md.

A module is any ``<package>/<name>.py`` (default package ``benchmarks.suites``) that exposes ``NAME``,
``DESCRIPTION`` and ``run(ctx)``. A module that fails to import or raises is reported as FAILED (its
traceback printed), the others still run, and the run's exit code is 1.
"""
from __future__ import annotations

import importlib
import os
import platform
import pkgutil
import re
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.context import SUITES, BenchContext

__all__ = ["DEFAULT_PACKAGE", "BUDGET_S", "SUITE_BUDGET_S", "ModuleInfo", "discover", "load_module", "describe_modules",
           "select_modules", "check_device", "default_out_dir", "environment", "run_suite", "RunOutcome"]

DEFAULT_PACKAGE = "benchmarks.suites"
# per-module wall-clock budget (seconds) recorded as a target of the module's own wall time (None: no budget)
BUDGET_S = {"smoke": 10.0, "quick": 90.0, "full": None}
# budget of the whole run (issue 7: the quick suite finishes in <= 10 minutes on a 2-core CPU)
SUITE_BUDGET_S = {"smoke": None, "quick": 600.0, "full": None}
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass
class ModuleInfo:
    """One discovered module: file stem ``name``, importable ``module_name``; NAME/DESCRIPTION once loaded."""

    name: str
    module_name: str
    app: str = ""
    description: str = ""
    error: str = ""


def discover(package: str = DEFAULT_PACKAGE) -> list[ModuleInfo]:
    """Modules of ``package`` (sorted by name, private ``_x`` skipped), not yet imported."""
    try:
        pkg = importlib.import_module(package)
    except ModuleNotFoundError as e:
        raise ValueError(f"suites package {package!r} cannot be imported ({e})") from e
    if not hasattr(pkg, "__path__"):
        raise ValueError(f"suites package {package!r} is a module, not a package")
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_") and not m.ispkg)
    return [ModuleInfo(n, f"{package}.{n}") for n in names]


def load_module(info: ModuleInfo):
    """Import the module and check its interface; fills ``info.app`` and ``info.description``."""
    mod = importlib.import_module(info.module_name)
    missing = [a for a in ("NAME", "DESCRIPTION", "run") if not hasattr(mod, a)]
    if missing:
        raise AttributeError(f"benchmark module {info.module_name} lacks {', '.join(missing)} "
                             f"(a module exposes NAME, DESCRIPTION and run(ctx))")
    if not callable(mod.run):
        raise TypeError(f"{info.module_name}.run must be callable: run(ctx) -> None")
    info.app, info.description = str(mod.NAME), str(mod.DESCRIPTION)
    return mod


def describe_modules(package: str = DEFAULT_PACKAGE) -> list[ModuleInfo]:
    """Discover and import every module for a listing; an import error is kept in ``info.error``, not raised."""
    infos = discover(package)
    for info in infos:
        try:
            load_module(info)
        except Exception as e:  # listed as broken with its reason; `bench` itself prints the traceback
            info.error = f"{type(e).__name__}: {e}"
    return infos


def select_modules(infos: list[ModuleInfo], only: str | list[str] | None) -> list[ModuleInfo]:
    """Filter by ``--only a,b`` (module names); ValueError naming the valid names for an unknown one."""
    if only is None or only == "" or only == []:
        return list(infos)
    wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only) if w.strip()]
    valid = [i.name for i in infos]
    unknown = [w for w in wanted if w not in valid]
    if unknown:
        raise ValueError(f"unknown benchmark module(s) {', '.join(unknown)}; valid: {', '.join(valid) or '(none found)'}")
    return [i for i in infos if i.name in wanted]


def check_device(device: str) -> str:
    """'cpu' or 'cuda[:N]'; ValueError for anything else or when CUDA is asked for but not available."""
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise ValueError(f"device={device!r} is not valid; choose cpu or cuda (or cuda:N)")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available in this torch "
                             f"({torch.__version__}, built with CUDA {torch.version.cuda}); use --device cpu")
        if ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return device


def default_out_dir(suite: str) -> Path:
    return Path("bench_out") / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}"


def environment(device: str) -> dict:
    """Where the run happened: device name, torch/python versions, CPU count, commit, host OS."""
    import torch

    from core.training.results import git_commit

    if device.startswith("cuda"):
        idx = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        device_name = torch.cuda.get_device_name(idx)
    else:
        device_name = platform.processor() or platform.machine() or "cpu"
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                for line in f:
                    if line.startswith("model name"):
                        device_name = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    return {
        "device": device, "device_name": device_name, "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "commit": git_commit(),
    }


def _isolate(threads: int, device: str) -> None:
    """Undo what a module may leave behind for the next one: thread count, open pyplot figures, cached CUDA memory."""
    import torch

    torch.set_num_threads(threads)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


@dataclass
class RunOutcome:
    """What ``run_suite`` did: output folder, per-module status, exit code (0 ok, 1 some module failed)."""

    out_dir: Path
    statuses: dict[str, str] = field(default_factory=dict)   # module name -> "ok" | "failed"
    wall_s: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [n for n, s in self.statuses.items() if s != "ok"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _prepare_out(out_dir: Path, overwrite: bool) -> None:
    existing = [p for p in ("results.jsonl", "REPORT.md", "run.json", "plots") if (out_dir / p).exists()]
    if existing and not overwrite:
        raise ValueError(f"output folder {out_dir} already holds {', '.join(existing)}; "
                         f"choose another --out or pass --overwrite")
    for p in existing:
        target = out_dir / p
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def run_suite(suite: str = "quick", device: str = "cpu", *, only=None, out_dir: str | Path | None = None,
              seed: int = 0, package: str = DEFAULT_PACKAGE, overwrite: bool = False, argv: list[str] | None = None,
              verbose: bool = True) -> RunOutcome:
    """Run the selected modules into ``out_dir`` and render its REPORT.md. Validates every argument first."""
    import json

    import torch

    from benchmarks.report import write_report
    from core.training.results import ResultsWriter
    from core.training.seeding import seed_everything

    if suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not valid; choose one of {', '.join(SUITES)}")
    check_device(device)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed={seed!r} must be an integer")
    selected = select_modules(discover(package), only)
    if not selected:
        raise ValueError(f"no benchmark modules found in package {package!r}")
    out = Path(out_dir) if out_dir is not None else default_out_dir(suite)
    _prepare_out(out, overwrite)

    writer = ResultsWriter(out / "results.jsonl")
    ctx = BenchContext(suite=suite, device=device, seed=seed, out_dir=out, writer=writer, verbose=verbose)
    outcome = RunOutcome(out)
    meta = {"suite": suite, "seed": seed, "package": package, "modules": [i.name for i in selected],
            "argv": argv if argv is not None else sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **environment(device)}
    print(f"sparselab bench: suite={suite} device={device} ({meta['device_name']}) seed={seed} "
          f"modules={','.join(meta['modules'])}\n  output: {out.resolve()}", flush=True)
    t_run = time.perf_counter()
    try:
        for k, info in enumerate(selected, 1):
            print(f"\n=== [{k}/{len(selected)}] {info.name} ===", flush=True)
            ctx.module = info.name
            n_before = len(ctx.records)
            t0 = time.perf_counter()
            status, error = "ok", ""
            threads = torch.get_num_threads()
            try:
                mod = load_module(info)
                print(f"    {info.description}", flush=True)
                seed_everything(seed)  # each module starts from the same RNG state, whatever ran before it
                mod.run(ctx)
            except Exception as e:  # the module fails, the run goes on; traceback printed in full
                status, error = "failed", f"{type(e).__name__}: {e}"
                print(f"!!! benchmark module {info.name} FAILED:", file=sys.stderr, flush=True)
                traceback.print_exc()
            wall = time.perf_counter() - t0
            _isolate(threads, device)
            outcome.statuses[info.name] = status
            budget = BUDGET_S[suite]
            # the module's own wall time, with the suite's per-module budget as target
            writer.write(info.app or info.name, "(module)", "wall_time", wall, "s", suite=suite, device=device,
                         seed=seed, wall_s=wall, target=f"<= {budget:g}" if budget else None,
                         met=(wall <= budget) if budget else None, higher_is_better=False, kind="module",
                         module=info.name, status=status, error=error, records=len(ctx.records) - n_before)
            print(f"=== [{k}/{len(selected)}] {info.name}: {status.upper()} in {wall:.1f} s"
                  + (f" ({error})" if error else ""), flush=True)
    finally:
        outcome.wall_s = time.perf_counter() - t_run
        budget = SUITE_BUDGET_S[suite]
        writer.write("(suite)", "(all modules)", "wall_time", outcome.wall_s, "s", suite=suite, device=device,
                     seed=seed, wall_s=outcome.wall_s, target=f"<= {budget:g}" if budget else None,
                     met=(outcome.wall_s <= budget) if budget else None, higher_is_better=False, kind="suite",
                     modules=len(outcome.statuses), failed=len(outcome.failed))
        meta.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=outcome.wall_s, statuses=outcome.statuses)
        (out / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        report = write_report(out)
        print(f"\nsparselab bench: {len(outcome.statuses) - len(outcome.failed)}/{len(outcome.statuses)} modules ok "
              f"in {outcome.wall_s:.1f} s" + (f"; FAILED: {', '.join(outcome.failed)}" if outcome.failed else ""))
        print(f"  results: {(out / 'results.jsonl').resolve()}\n  report:  {report.resolve()}", flush=True)
    return outcome
