"""Discover benchmark modules, run them one after another, write results.jsonl + run.json + REPORT.md.

A module is any ``<package>/<name>.py`` (default package ``benchmarks.suites``) that exposes ``NAME``,
``DESCRIPTION`` and ``run(ctx)``. Module status: "ok"; "failed" (import error or exception: traceback
printed, the others still run, exit code 1); "skipped" (the module called ``ctx.skip(reason)``, or the run
was interrupted before it); "interrupted" (SIGINT / SIGTERM while it ran: the runner records it, writes
an honest report and exits 130).

``--overwrite`` of a folder holding results runs into a hidden sibling folder and swaps what it wrote in
only when the run completes: an interrupted or crashed run leaves the old results intact (an interrupted
run's own results are kept beside them in ``<out>.interrupted``).
"""
from __future__ import annotations

import importlib
import os
import platform
import pkgutil
import re
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.context import SUITES, BenchContext, SkipModule

__all__ = ["DEFAULT_PACKAGE", "INTERRUPTED_EXIT", "BUDGET_S", "SUITE_BUDGET_S", "ModuleInfo", "discover", "load_module", "describe_modules",
           "select_modules", "check_device", "default_out_dir", "environment", "run_suite", "RunOutcome"]

DEFAULT_PACKAGE = "benchmarks.suites"
# per-module wall-clock budget (seconds) on a 2-core CPU, shown next to the module's own wall time (None: no budget)
BUDGET_S = {"smoke": 10.0, "quick": 150.0, "standard": 3600.0, "full": None}
# budget of the whole run (issue 13: the quick suite finishes in <= 15 minutes on a 2-core CPU)
SUITE_BUDGET_S = {"smoke": None, "quick": 900.0, "standard": None, "full": None}
RESULT_ITEMS = ("results.jsonl", "REPORT.md", "run.json", "plots")   # what a run folder holds (and --overwrite swaps)
INTERRUPTED_EXIT = 130
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
    """What ``run_suite`` did: output folder, per-module status, exit code (0 ok, 1 a module failed, 130 interrupted)."""

    out_dir: Path
    statuses: dict[str, str] = field(default_factory=dict)   # module name -> "ok" | "failed" | "skipped" | "interrupted"
    wall_s: float = 0.0
    interrupted: bool = False

    @property
    def failed(self) -> list[str]:
        return [n for n, s in self.statuses.items() if s == "failed"]

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return INTERRUPTED_EXIT
        return 1 if self.failed else 0


def _prepare_out(out_dir: Path, overwrite: bool) -> Path:
    """The folder to write into: ``out_dir`` itself, or a fresh hidden sibling when overwriting results."""
    existing = [p for p in RESULT_ITEMS if (out_dir / p).exists()]
    if existing and not overwrite:
        raise ValueError(f"output folder {out_dir} already holds {', '.join(existing)}; "
                         f"choose another --out or pass --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not existing:
        return out_dir
    stage = out_dir.parent / f".{out_dir.name}.new-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    return stage


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Move everything the run staged (results, report, plots, a module's tables) over the old items of the same
    names; other files in ``out_dir`` (e.g. training-run folders under ``ctx.runs_dir``) are left alone."""
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    old.mkdir(exist_ok=True)
    names = sorted(p.name for p in stage.iterdir())
    for name in names:
        if (out_dir / name).exists():
            os.replace(out_dir / name, old / name)
    for name in names:
        os.replace(stage / name, out_dir / name)
    shutil.rmtree(old)
    shutil.rmtree(stage)


class _Signals:
    """SIGTERM raises KeyboardInterrupt like SIGINT while the run is going; both are ignored while the report is written."""

    def __init__(self):
        self.active = threading.current_thread() is threading.main_thread()
        self.saved = {}
        self.name = "SIGINT"

    def _term(self, signum, frame):
        self.name = "SIGTERM"
        raise KeyboardInterrupt("SIGTERM")

    def __enter__(self):
        if self.active:
            self.saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._term)
        return self

    def shield(self):
        if self.active:
            self.saved.setdefault(signal.SIGINT, signal.getsignal(signal.SIGINT))
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def __exit__(self, *exc):
        if self.active:
            for sig, h in self.saved.items():
                signal.signal(sig, h)
        return False


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
    final = Path(out_dir) if out_dir is not None else default_out_dir(suite)
    out = _prepare_out(final, overwrite)

    writer = ResultsWriter(out / "results.jsonl")
    ctx = BenchContext(suite=suite, device=device, seed=seed, out_dir=out, writer=writer, verbose=verbose, runs_dir=final)
    outcome = RunOutcome(final)
    meta = {"suite": suite, "seed": seed, "package": package, "modules": [i.name for i in selected],
            "argv": argv if argv is not None else sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **environment(device)}
    print(f"sparselab bench: suite={suite} device={device} ({meta['device_name']}) seed={seed} "
          f"modules={','.join(meta['modules'])}\n  output: {final.resolve()}"
          + (f" (staged in {out}, swapped in when the run completes)" if out != final else ""), flush=True)
    budget = BUDGET_S[suite]

    def module_record(info: ModuleInfo, status: str, error: str, wall: float | None, n_records: int,
                      cpu: float | None = None) -> None:
        in_budget = (wall <= budget) if (budget and status == "ok" and wall is not None) else None
        writer.write(info.app or info.name, "(module)", "wall_time", wall, "s", suite=suite, device=device,
                     seed=seed, wall_s=wall, target=f"<= {budget:g}" if budget else None, met=in_budget,
                     higher_is_better=False, kind="module", module=info.name, status=status, error=error,
                     records=n_records, cpu_s=cpu)

    t_run = time.perf_counter()
    done: set[str] = set()
    loop_ended = False   # False while an unexpected error propagates: then staged results are not swapped in
    sig = _Signals()
    with sig:
        try:
            for k, info in enumerate(selected, 1):
                print(f"\n=== [{k}/{len(selected)}] {info.name} ===", flush=True)
                ctx.module, ctx.app = info.name, info.name
                n_before = len(ctx.records)
                t0, c0 = time.perf_counter(), time.process_time()
                status, error = "ok", ""
                threads = torch.get_num_threads()
                try:
                    mod = load_module(info)
                    ctx.app = info.app
                    print(f"    {info.description}", flush=True)
                    seed_everything(seed)  # each module starts from the same RNG state, whatever ran before it
                    mod.run(ctx)
                except SkipModule as e:
                    status, error = "skipped", str(e) or "skipped by the module"
                    print(f"--- benchmark module {info.name} SKIPPED: {error}", flush=True)
                except KeyboardInterrupt:
                    status, error = "interrupted", f"interrupted by {sig.name} after {time.perf_counter() - t0:.1f} s"
                    outcome.interrupted = True
                    print(f"\n!!! benchmark module {info.name} INTERRUPTED ({sig.name})", file=sys.stderr, flush=True)
                except Exception as e:  # the module fails, the run goes on; traceback printed in full
                    status, error = "failed", f"{type(e).__name__}: {e}"
                    print(f"!!! benchmark module {info.name} FAILED:", file=sys.stderr, flush=True)
                    traceback.print_exc()
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                _isolate(threads, device)
                outcome.statuses[info.name] = status
                module_record(info, status, error, wall, len(ctx.records) - n_before, cpu)
                done.add(info.name)
                so_far = time.perf_counter() - t_run
                sb = SUITE_BUDGET_S[suite]
                print(f"=== [{k}/{len(selected)}] {info.name}: {status.upper()} in {wall:.1f} s (CPU {cpu:.1f} s)"
                      + (f" ({error})" if error else "")
                      + f"; run so far {so_far:.0f} s" + (f" of the {sb:.0f} s budget" if sb else ""), flush=True)
                if outcome.interrupted:
                    break
            loop_ended = True
        except KeyboardInterrupt:  # between modules (or while a module record was written)
            outcome.interrupted = loop_ended = True
        finally:
            sig.shield()
            if outcome.interrupted:
                for info in selected:
                    if info.name not in done:
                        if info.name not in outcome.statuses:
                            outcome.statuses[info.name] = "skipped"
                            module_record(info, "skipped", f"not run: the run was interrupted ({sig.name})", None, 0)
                        else:
                            module_record(info, outcome.statuses[info.name], "interrupted", None, 0)
            outcome.wall_s = time.perf_counter() - t_run
            sbudget = SUITE_BUDGET_S[suite]
            counts = {s: sum(1 for v in outcome.statuses.values() if v == s)
                      for s in ("ok", "failed", "interrupted", "skipped")}
            run_status = "interrupted" if outcome.interrupted else "complete"
            writer.write("(suite)", "(all modules)", "wall_time", outcome.wall_s, "s", suite=suite, device=device,
                         seed=seed, wall_s=outcome.wall_s, target=f"<= {sbudget:g}" if sbudget else None,
                         met=(outcome.wall_s <= sbudget) if (sbudget and run_status == "complete") else None,
                         higher_is_better=False, kind="suite", status=run_status, modules=len(outcome.statuses),
                         failed=counts["failed"], counts=counts)
            meta.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=outcome.wall_s,
                        statuses=outcome.statuses, status=run_status)
            (out / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
            report = write_report(out)
            if out != final and not loop_ended:
                print(f"\nthe run crashed: the previous results in {final} are kept; this run's are in {out}",
                      file=sys.stderr, flush=True)
                outcome.out_dir = out
            elif out != final:
                if outcome.interrupted:
                    kept = final.parent / f"{final.name}.interrupted"
                    if kept.exists():
                        shutil.rmtree(kept)
                    os.replace(out, kept)
                    outcome.out_dir = kept
                    print(f"\nthe run was interrupted: the previous results in {final} are kept; this run's "
                          f"partial results are in {kept}", flush=True)
                else:
                    _swap_in(out, final)
                report = outcome.out_dir / "REPORT.md"
            print(f"\nsparselab bench: {counts['ok']}/{len(selected)} modules ok"
                  + "".join(f", {counts[s]} {s}" for s in ("failed", "interrupted", "skipped") if counts[s])
                  + f" in {outcome.wall_s:.1f} s" + (" -- INTERRUPTED" if outcome.interrupted else ""))
            print(f"  results: {(outcome.out_dir / 'results.jsonl').resolve()}\n  report:  {report.resolve()}",
                  flush=True)
    return outcome
