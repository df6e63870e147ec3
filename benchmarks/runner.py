"""Discover benchmark modules, run them one after another, write results.jsonl + run.json + REPORT.md.

A module is any ``<package>/<name>.py`` (default package ``benchmarks.suites``) that exposes ``NAME``,
``DESCRIPTION`` and ``run(ctx)``. Module status: "ok"; "failed" (import error or exception: traceback
printed, the others still run, exit code 1); "skipped" (the module called ``ctx.skip(reason)``, or the run
was interrupted before it); "interrupted" (SIGINT / SIGTERM while it ran: the runner records it, writes
an honest report and exits 130).

``--jobs N`` (``run_suite(jobs=N)``) runs up to N modules at a time, each in its own worker process with one
torch thread (``python -m benchmarks.runner --worker ...``); a worker writes its figures to its own results
file, which the runner merges into ``results.jsonl`` in one atomic write per module, in the order the modules
are listed, so the report reads the same whatever finished first. SIGINT / SIGTERM reach the runner, which
stops the workers (SIGTERM: each records "interrupted"), writes the report and exits 130.

``--overwrite`` of a folder holding results runs into a hidden sibling folder ``.<out>.new-<pid>`` and swaps it
in only when the run completes, with one atomic exchange of two directories (``renameat2(RENAME_EXCHANGE)``;
where the OS has none, two renames): before it, the sibling receives the folder's other entries (training runs
kept for reuse) by rename, each listed first in a journal, so a run killed at any point loses nothing -- the
next run puts journalled entries back and removes stale siblings of processes that no longer run. An interrupted
run's own results are kept beside the old ones in ``<out>.interrupted``, a crashed run's in ``<out>.crashed``.
"""
from __future__ import annotations

import ctypes
import errno
import importlib
import json
import os
import platform
import pkgutil
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.context import SUITES, BenchContext, SkipModule
from core.training.atomic import pid_alive

__all__ = ["DEFAULT_PACKAGE", "INTERRUPTED_EXIT", "BUDGET_S", "SUITE_BUDGET_S", "ModuleInfo", "discover", "load_module", "describe_modules",
           "select_modules", "check_device", "default_out_dir", "environment", "run_suite", "RunOutcome",
           "default_jobs", "DEFAULT_JOBS", "clean_stale_stages", "exchange_dirs"]

DEFAULT_PACKAGE = "benchmarks.suites"
# per-module wall-clock budget (seconds) on a 2-core CPU, shown next to the module's own wall time (None: no budget).
# quick: the suite's 900 s shared by 7 modules on 2 workers (quick and standard run two modules at a time) = 250 s
BUDGET_S = {"smoke": 10.0, "quick": 250.0, "standard": 3600.0, "full": None}
# budget of the whole run (issue 13: the quick suite finishes in <= 15 minutes on a 2-core CPU)
SUITE_BUDGET_S = {"smoke": None, "quick": 900.0, "standard": None, "full": None}
RESULT_ITEMS = ("results.jsonl", "REPORT.md", "run.json", "plots")   # what a run folder holds (and --overwrite swaps)
INTERRUPTED_EXIT = 130
# worker processes `sparselab bench` uses by default: two for the suites that fill a 2-core machine, one for smoke
# (CI stays light) and full (one GPU)
DEFAULT_JOBS = {"smoke": 1, "quick": 2, "standard": 2, "full": 1}
WORKERS_DIR = ".workers"
SWAP_JOURNAL = ".swap-journal"
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


def default_jobs(suite: str) -> int:
    """Worker processes for ``suite`` when ``--jobs`` is not given (DEFAULT_JOBS)."""
    return DEFAULT_JOBS.get(suite, 1)


def _stage_name(out_dir: Path, kind: str, pid: int) -> Path:
    return out_dir.parent / f".{out_dir.name}.{kind}-{pid}"


def clean_stale_stages(out_dir: str | Path) -> list[Path]:
    """Remove the hidden siblings ``.<out>.new-<pid>`` / ``.<out>.old-<pid>`` of runs whose process is gone (an
    ``--overwrite`` killed with SIGKILL), first putting back into ``out_dir`` every entry a swap had journalled as
    moved out of it (so no training run kept for reuse is lost). Returns the folders removed."""
    out_dir = Path(out_dir)
    removed = []
    if not out_dir.parent.is_dir():
        return removed
    pat = re.compile(rf"^\.{re.escape(out_dir.name)}\.(new|old)-(\d+)$")
    for p in sorted(out_dir.parent.iterdir()):
        m = pat.match(p.name)
        if not m or not p.is_dir() or int(m.group(2)) == os.getpid() or pid_alive(int(m.group(2))):
            continue
        journal = p / SWAP_JOURNAL
        if journal.is_file() and m.group(1) == "new" and not out_dir.exists():
            os.rename(p, out_dir)     # killed between the two renames of the fallback swap: finish it
            (out_dir / SWAP_JOURNAL).unlink(missing_ok=True)
            continue
        if journal.is_file():
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in journal.read_text(encoding="utf-8").splitlines():
                if name and (p / name).exists() and not (out_dir / name).exists():
                    os.rename(p / name, out_dir / name)
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    (out_dir / SWAP_JOURNAL).unlink(missing_ok=True)   # left by a swap killed right after its exchange
    return removed


def _prepare_out(out_dir: Path, overwrite: bool) -> Path:
    """The folder to write into: ``out_dir`` itself, or a fresh hidden sibling when overwriting results."""
    existing = [p for p in RESULT_ITEMS if (out_dir / p).exists()]
    if existing and not overwrite:
        raise ValueError(f"output folder {out_dir} already holds {', '.join(existing)}; "
                         f"choose another --out or pass --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not existing:
        return out_dir
    stage = _stage_name(out_dir, "new", os.getpid())
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    return stage


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "arm64": 276, "ppc64le": 357, "s390x": 347, "riscv64": 276}


def _renameat2():
    """libc's renameat2, or a wrapper around the raw system call; None where neither exists (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    fn = getattr(libc, "renameat2", None)
    if fn is not None:
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        return fn
    nr = _SYS_RENAMEAT2.get(platform.machine())
    if nr is None or not hasattr(libc, "syscall"):
        return None
    return lambda a, src, b, dst, flags: libc.syscall(nr, a, src, b, dst, flags)


def exchange_dirs(a: str | Path, b: str | Path) -> bool:
    """Swap two directories in one atomic step (``renameat2(RENAME_EXCHANGE)``): each path names the other's
    content, no moment without either. False where the OS or file system cannot (the caller falls back)."""
    fn = _renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)):
        return False
    raise OSError(err, f"renameat2(RENAME_EXCHANGE) {a} <-> {b}: {os.strerror(err)}")


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Make ``stage`` the new ``out_dir`` in one atomic step. First every entry of ``out_dir`` the run did not
    stage -- training runs under ``ctx.runs_dir``, a user's notes -- moves into ``stage`` by rename (journalled
    before it moves, so a crash here loses nothing: ``clean_stale_stages`` moves it back); old result items the run
    did not make again (RESULT_ITEMS) stay behind with the old results. Then one exchange of the two directories
    (``exchange_dirs``): a reader sees the old complete folder or the new one, never a mix. The old folder (now at
    ``stage``'s path) is removed."""
    from core.training.atomic import atomic_write_text, fsync_dir

    staged = {p.name for p in stage.iterdir()}
    carry = sorted(p.name for p in out_dir.iterdir()
                   if p.name not in staged and p.name not in RESULT_ITEMS and p.name != SWAP_JOURNAL)
    journal = stage / SWAP_JOURNAL
    atomic_write_text(journal, "".join(n + "\n" for n in carry))
    for name in carry:
        os.rename(out_dir / name, stage / name)
    fsync_dir(stage)
    if exchange_dirs(stage, out_dir):
        (out_dir / SWAP_JOURNAL).unlink(missing_ok=True)     # the journal came along; the swap is done
        shutil.rmtree(stage)
    else:   # no atomic exchange here: two renames (a reader may find no folder for a moment; nothing is lost)
        old = _stage_name(out_dir, "old", os.getpid())
        os.rename(out_dir, old)
        os.rename(stage, out_dir)
        (out_dir / SWAP_JOURNAL).unlink(missing_ok=True)
        shutil.rmtree(old)
    fsync_dir(out_dir.parent)


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


def _run_module(info: ModuleInfo, ctx: BenchContext, sig: _Signals, seed: int) -> tuple[str, str, float, float]:
    """Import and run one module in this process: (status, error, wall s, CPU s). KeyboardInterrupt (SIGINT, or
    SIGTERM through ``_Signals``) becomes status "interrupted"; any other exception "failed" (traceback printed)."""
    from core.training.seeding import seed_everything

    t0, c0 = time.perf_counter(), time.process_time()
    status, error = "ok", ""
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
        print(f"\n!!! benchmark module {info.name} INTERRUPTED ({sig.name})", file=sys.stderr, flush=True)
    except Exception as e:  # the module fails, the run goes on; traceback printed in full
        status, error = "failed", f"{type(e).__name__}: {e}"
        print(f"!!! benchmark module {info.name} FAILED:", file=sys.stderr, flush=True)
        traceback.print_exc()
    return status, error, time.perf_counter() - t0, time.process_time() - c0


@dataclass
class _Worker:
    """One module running in its own process."""

    index: int
    info: ModuleInfo
    proc: subprocess.Popen
    results: Path
    status_file: Path
    out_log: Path
    err_log: Path
    t0: float
    outcome: dict | None = None
    rows: list | None = None        # its figures, once merged into the run's results


def _worker_env() -> dict:
    """The runner's environment for a worker: its import path (suite packages found by the runner are found by
    the worker), one thread, no progress bars (its output goes to a log)."""
    path = [p for p in sys.path if p] + [os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p), "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "SPARSELAB_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}


def _start_worker(index: int, info: ModuleInfo, *, package: str, suite: str, device: str, seed: int, out: Path,
                  runs_dir: Path, verbose: bool) -> _Worker:
    wd = out / WORKERS_DIR
    wd.mkdir(parents=True, exist_ok=True)
    files = {k: wd / f"{info.name}.{k}" for k in ("jsonl", "status.json", "out.log", "err.log")}
    for f in files.values():
        f.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "benchmarks.runner", "--worker", "--package", package, "--module", info.name,
           "--suite", suite, "--device", device, "--seed", str(seed), "--out", str(out), "--runs-dir", str(runs_dir),
           "--results", str(files["jsonl"]), "--status", str(files["status.json"])] + ([] if verbose else ["--quiet"])
    with open(files["out.log"], "wb") as fo, open(files["err.log"], "wb") as fe:
        # own session: a terminal's Ctrl-C reaches the runner only, which stops the workers itself
        proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=_worker_env(),
                                start_new_session=True)
    return _Worker(index, info, proc, files["jsonl"], files["status.json"], files["out.log"], files["err.log"],
                   time.perf_counter())


def _collect(w: _Worker, interrupted_by: str | None = None) -> dict:
    """The worker's outcome (after it exited): its status file, or "failed" / "interrupted" when it died first."""
    st = None
    if w.status_file.is_file():
        try:
            st = json.loads(w.status_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            st = None
    wall = time.perf_counter() - w.t0
    if st is None:
        rc = w.proc.returncode
        if interrupted_by:
            st = {"status": "interrupted", "error": f"interrupted by {interrupted_by} after {wall:.1f} s"}
        else:
            how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
            st = {"status": "failed", "error": f"worker process died ({how}) before recording its outcome"}
        st.update(wall=wall, cpu=None)
    elif interrupted_by and st.get("status") == "interrupted":
        st["error"] = f"interrupted by {interrupted_by} after {float(st.get('wall') or wall):.1f} s"
    st.setdefault("app", w.info.name)
    w.info.app = st.get("app") or w.info.app or w.info.name
    w.info.description = st.get("description", w.info.description)
    w.outcome = st
    return st


def _echo(path: Path, stream) -> None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if text:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()


def _stop_workers(workers: list[_Worker], grace: float = 30.0) -> None:
    """SIGTERM to each running worker (it records "interrupted" and exits), SIGKILL after ``grace`` seconds."""
    for w in workers:
        if w.proc.poll() is None:
            try:
                w.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for w in workers:
        while w.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def run_suite(suite: str = "quick", device: str = "cpu", *, only=None, out_dir: str | Path | None = None,
              seed: int = 0, package: str = DEFAULT_PACKAGE, overwrite: bool = False, argv: list[str] | None = None,
              verbose: bool = True, jobs: int = 1) -> RunOutcome:
    """Run the selected modules into ``out_dir`` and render its REPORT.md. Validates every argument first.

    ``jobs``: modules run at a time; 1 runs them one after another in this process, more in that many worker
    processes (one torch thread each; see the module docstring). The results file, the report and the module
    order are the same either way."""
    import torch

    from benchmarks.report import write_report
    from core.training.atomic import atomic_write_json
    from core.training.results import ResultsWriter, read_results

    if suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not valid; choose one of {', '.join(SUITES)}")
    check_device(device)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed={seed!r} must be an integer")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be an integer >= 1 (modules run at a time)")
    selected = select_modules(discover(package), only)
    if not selected:
        raise ValueError(f"no benchmark modules found in package {package!r}")
    final = Path(out_dir) if out_dir is not None else default_out_dir(suite)
    stale = clean_stale_stages(final)
    out = _prepare_out(final, overwrite)
    jobs = min(jobs, len(selected))

    writer = ResultsWriter(out / "results.jsonl")
    ctx = BenchContext(suite=suite, device=device, seed=seed, out_dir=out, writer=writer, verbose=verbose, runs_dir=final)
    outcome = RunOutcome(final)
    meta = {"suite": suite, "seed": seed, "package": package, "modules": [i.name for i in selected], "jobs": jobs,
            "argv": argv if argv is not None else sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **environment(device)}
    print(f"sparselab bench: suite={suite} device={device} ({meta['device_name']}) seed={seed} "
          f"modules={','.join(meta['modules'])}" + (f" jobs={jobs}" if jobs > 1 else "")
          + f"\n  output: {final.resolve()}"
          + (f" (staged in {out}, swapped in when the run completes)" if out != final else ""), flush=True)
    for p in stale:
        print(f"  removed the stale folder {p} of a run that no longer runs", flush=True)
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
    n = len(selected)

    def finished_line(k: int, info: ModuleInfo, status: str, wall: float, cpu: float | None, error: str) -> None:
        so_far = time.perf_counter() - t_run
        sb = SUITE_BUDGET_S[suite]
        cpu_s = f" (CPU {cpu:.1f} s)" if cpu is not None else ""
        print(f"=== [{k}/{n}] {info.name}: {status.upper()} in {wall:.1f} s{cpu_s}"
              + (f" ({error})" if error else "")
              + f"; run so far {so_far:.0f} s" + (f" of the {sb:.0f} s budget" if sb else ""), flush=True)

    def serial() -> None:
        for k, info in enumerate(selected, 1):
            print(f"\n=== [{k}/{n}] {info.name} ===", flush=True)
            ctx.module, ctx.app = info.name, info.name
            n_before = len(ctx.records)
            threads = torch.get_num_threads()
            status, error, wall, cpu = _run_module(info, ctx, sig, seed)
            if status == "interrupted":
                outcome.interrupted = True
            _isolate(threads, device)
            outcome.statuses[info.name] = status
            module_record(info, status, error, wall, len(ctx.records) - n_before, cpu)
            done.add(info.name)
            finished_line(k, info, status, wall, cpu, error)
            if outcome.interrupted:
                break

    workers: list[_Worker] = []

    def merge_ready() -> None:
        """Merge finished workers into results.jsonl in the modules' order (each module: its rows, then its record)."""
        for w in sorted(workers, key=lambda w: w.index):
            if w.info.name in done:
                continue
            if w.outcome is None:
                return          # an earlier module is still running: keep the order
            if w.rows is None:      # once, even if a signal lands between the two writes below
                w.rows = read_results(w.results) if w.results.is_file() else []
                writer.write_records(w.rows)
            rows = w.rows
            st = w.outcome
            outcome.statuses[w.info.name] = st["status"]
            module_record(w.info, st["status"], st.get("error", ""), st.get("wall"), len(rows), st.get("cpu"))
            done.add(w.info.name)

    def parallel() -> None:
        pending = list(enumerate(selected, 1))
        try:
            while pending or any(w.outcome is None for w in workers):
                while pending and sum(w.outcome is None for w in workers) < jobs and not outcome.interrupted:
                    k, info = pending.pop(0)
                    print(f"=== [{k}/{n}] {info.name}: started (worker {len(workers) + 1})", flush=True)
                    workers.append(_start_worker(k, info, package=package, suite=suite, device=device, seed=seed,
                                                 out=out, runs_dir=final, verbose=verbose))
                for w in workers:
                    if w.outcome is None and w.proc.poll() is not None:
                        st = _collect(w)
                        print(f"\n=== [{w.index}/{n}] {w.info.name} (worker output) ===", flush=True)
                        _echo(w.out_log, sys.stdout)
                        _echo(w.err_log, sys.stderr)
                        finished_line(w.index, w.info, st["status"], float(st.get("wall") or 0.0), st.get("cpu"),
                                      st.get("error", ""))
                        if st["status"] == "interrupted":     # a module stopped by SIGINT/SIGTERM stops the run
                            outcome.interrupted = True
                merge_ready()
                if outcome.interrupted:
                    pending.clear()
                    running = [w for w in workers if w.outcome is None]
                    _stop_workers(running)
                    for w in running:
                        _collect(w, interrupted_by=sig.name)
                    merge_ready()
                    return
                time.sleep(0.05)
        except KeyboardInterrupt:
            outcome.interrupted = True
            sig.shield()
            running = [w for w in workers if w.outcome is None]
            print(f"\n!!! {sig.name}: stopping {len(running)} running module(s)", file=sys.stderr, flush=True)
            _stop_workers(running)
            for w in running:
                _collect(w, interrupted_by=sig.name)
            merge_ready()
            raise

    with sig:
        try:
            if jobs > 1:
                parallel()
            else:
                serial()
            loop_ended = True
        except KeyboardInterrupt:  # between modules (or while a module record was written)
            outcome.interrupted = loop_ended = True
        finally:
            sig.shield()
            if workers:
                _stop_workers([w for w in workers if w.proc.poll() is None], grace=5.0)
                shutil.rmtree(out / WORKERS_DIR, ignore_errors=True)
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
                         failed=counts["failed"], counts=counts, jobs=jobs)
            meta.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), wall_s=outcome.wall_s,
                        statuses=outcome.statuses, status=run_status)
            atomic_write_json(out / "run.json", meta)
            report = write_report(out)
            if out != final and not loop_ended:
                kept = final.parent / f"{final.name}.crashed"
                if kept.exists():
                    shutil.rmtree(kept)
                os.replace(out, kept)
                print(f"\nthe run crashed: the previous results in {final} are kept; this run's are in {kept}",
                      file=sys.stderr, flush=True)
                outcome.out_dir = kept
                report = kept / "REPORT.md"
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


# ---- the worker: one module in its own process ------------------------------------------------------------------

def _worker_main(argv: list[str]) -> int:
    """``python -m benchmarks.runner --worker --package P --module M --suite S --device D --seed N --out DIR
    --runs-dir DIR --results FILE --status FILE [--quiet]``: run one module with one torch thread, its figures into
    FILE, its outcome (status, error, wall, cpu, app, description) into the status file; exit 130 if interrupted."""
    import argparse

    import torch

    from core.training.atomic import atomic_write_json
    from core.training.results import ResultsWriter

    ap = argparse.ArgumentParser(prog="benchmarks.runner --worker")
    for a in ("--package", "--module", "--suite", "--device", "--out", "--runs-dir", "--results", "--status"):
        ap.add_argument(a, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    info = ModuleInfo(a.module, f"{a.package}.{a.module}")
    writer = ResultsWriter(a.results)
    ctx = BenchContext(suite=a.suite, device=a.device, seed=a.seed, out_dir=Path(a.out), writer=writer,
                       verbose=not a.quiet, runs_dir=Path(a.runs_dir), module=info.name, app=info.name)
    sig = _Signals()
    with sig:
        try:
            status, error, wall, cpu = _run_module(info, ctx, sig, a.seed)
        except KeyboardInterrupt:   # between the module's end and here
            status, error, wall, cpu = "interrupted", f"interrupted by {sig.name}", 0.0, time.process_time()
        sig.shield()
        atomic_write_json(a.status, {"status": status, "error": error, "wall": wall, "cpu": cpu,
                                     "records": len(ctx.records), "app": info.app or info.name,
                                     "description": info.description})
    return INTERRUPTED_EXIT if status == "interrupted" else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.exit(_worker_main(sys.argv[2:]))
    raise SystemExit("benchmarks.runner is a library; run `sparselab bench` (a worker is started with --worker)")
