"""The ``sparselab`` command: benchmarks, and the apps' training entry points.

    sparselab bench [--suite smoke|quick|standard|full] [--device cpu|cuda] [--only a,b] [--out DIR] [--seed N]
                    [--jobs N]                       # modules at a time, each in its own process (default: 2; smoke 1)
    sparselab bench compare OLD NEW [--threshold 0.05] [--fail-on-regression]   # exit 1: regression / bad NEW run
    sparselab bench list
    sparselab bench report DIR                       # re-render DIR/REPORT.md from its results
    sparselab run SET.yaml --out DIR [--seeds 0,1,2] [--only a,b]   # a comparison set (core.training.experiments)
    sparselab asr|msrs|e2enet|spa [hydra overrides...]
"""
from __future__ import annotations

import argparse
import importlib
import sys

from benchmarks.context import SUITES

__all__ = ["main", "APPS", "build_bench_parser"]

# forwarding subcommands -> the app's Hydra entry point (imported only when used)
APPS = {"asr": "apps.asr_ddp.train", "msrs": "apps.msrs.train", "e2enet": "apps.e2enet.train",
        "spa": "apps.spa_graph.train"}
COMMANDS = ("bench", "run", *APPS)


def build_bench_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparselab bench", description="Run the cross-domain benchmark suite.",
                                epilog="Also: 'sparselab bench list', 'sparselab bench compare OLD NEW', "
                                       "'sparselab bench report DIR'.")
    p.add_argument("--suite", default="quick", choices=SUITES,
                   help="problem sizes: smoke (seconds, CI), quick (the main job, <= 15 min on 2 cores), "
                        "standard (<= 60 min per app on 2 cores, 3+ seeds), full (GPU) (default: quick)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--only", default=None, help="comma-separated module names (see 'sparselab bench list')")
    p.add_argument("--out", default=None, help="output folder (default: bench_out/<suite>-<timestamp>)")
    p.add_argument("--seed", type=int, default=0, help="seed handed to every module (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    p.add_argument("--suites-package", default="benchmarks.suites",
                   help="package whose modules are the benchmarks (default: benchmarks.suites)")
    p.add_argument("--quiet", action="store_true", help="do not print every recorded figure")
    p.add_argument("--jobs", type=int, default=None,
                   help="modules run at a time, each in its own worker process with one torch thread "
                        "(default: 2 for quick and standard, 1 for smoke and full)")
    return p


def _compare_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparselab bench compare", description="Compare two results.jsonl files.")
    p.add_argument("old", help="OLD results.jsonl")
    p.add_argument("new", help="NEW results.jsonl")
    p.add_argument("--threshold", type=float, default=0.05,
                   help="narrowest noise band, as a relative change (default 0.05); a figure's own interval widens it")
    p.add_argument("--fail-on-regression", action="store_true",
                   help="exit with code 1 on a regression or when NEW is empty, crashed or interrupted")
    p.add_argument("--changed-only", action="store_true", help="hide rows within the noise band")
    p.add_argument("--only", default=None, help="comma-separated apps / modules to compare (default: all)")
    return p


def _list_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparselab bench list", description="List the benchmark modules.")
    p.add_argument("--suites-package", default="benchmarks.suites")
    return p


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sparselab bench report", description="Re-render REPORT.md of a run folder.")
    p.add_argument("dir", help="a run folder holding results.jsonl")
    return p


def _error(prog: str, msg: str) -> int:
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return 2


def _bench(argv: list[str]) -> int:
    sub = argv[0] if argv else None
    if sub == "compare":
        from benchmarks.compare import compare_files, render_comparison

        a = _compare_parser().parse_args(argv[1:])
        try:
            only = [x.strip() for x in a.only.split(",") if x.strip()] if a.only else None
            cmp = compare_files(a.old, a.new, a.threshold, only=only)
        except (FileNotFoundError, ValueError) as e:
            return _error("sparselab bench compare", str(e))
        print(render_comparison(cmp, changed_only=a.changed_only), end="")
        return 1 if (a.fail_on_regression and cmp.failed) else 0
    if sub == "list":
        from benchmarks.runner import describe_modules

        a = _list_parser().parse_args(argv[1:])
        try:
            infos = describe_modules(a.suites_package)
        except ValueError as e:
            return _error("sparselab bench list", str(e))
        width = max((len(i.name) for i in infos), default=4)
        for i in infos:
            print(f"{i.name:<{width}}  {('IMPORT ERROR: ' + i.error) if i.error else i.description}")
        return 1 if any(i.error for i in infos) else 0
    if sub == "report":
        from benchmarks.report import write_report

        a = _report_parser().parse_args(argv[1:])
        try:
            print(write_report(a.dir))
        except FileNotFoundError as e:
            return _error("sparselab bench report", str(e))
        return 0
    if sub is not None and not sub.startswith("-"):
        return _error("sparselab bench", f"unknown subcommand {sub!r}; valid: compare, list, report "
                                         f"(or options such as --suite quick)")

    from benchmarks.runner import default_jobs, run_suite

    a = build_bench_parser().parse_args(argv)
    try:
        jobs = default_jobs(a.suite) if a.jobs is None else a.jobs
        if jobs > 1 and a.device.startswith("cuda") and a.jobs is None:
            jobs = 1     # one GPU: modules take turns on it unless asked otherwise
        outcome = run_suite(a.suite, a.device, only=a.only, out_dir=a.out, seed=a.seed, package=a.suites_package,
                            overwrite=a.overwrite, argv=["sparselab", "bench", *argv], verbose=not a.quiet,
                            jobs=jobs)
    except ValueError as e:  # argument validation happens before any module runs
        return _error("sparselab bench", str(e))
    return outcome.exit_code


def _forward(cmd: str, argv: list[str]) -> int:
    """Run the app's Hydra ``main`` with ``argv`` as its command line (overrides such as ``trainer.epochs=2``)."""
    module_name = APPS[cmd]
    try:
        mod = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            return _error(f"sparselab {cmd}", f"{module_name} is not available in this checkout ({e})")
        raise
    if not hasattr(mod, "main"):
        return _error(f"sparselab {cmd}", f"{module_name} has no main()")
    old = sys.argv
    sys.argv = [f"sparselab-{cmd}", *argv]
    try:
        rc = mod.main()
    finally:
        sys.argv = old
    return rc if isinstance(rc, int) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparselab`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = (f"usage: sparselab {{{','.join(COMMANDS)}}} ...\n"
             "  sparselab bench [--suite smoke|quick|standard|full] [--device cpu|cuda] [--only a,b] [--out DIR] [--seed N]"
             " [--jobs N]\n"
             "  sparselab bench compare OLD.jsonl NEW.jsonl [--threshold 0.05] [--fail-on-regression]\n"
             "  sparselab bench list | sparselab bench report DIR\n"
             "  sparselab run SET.yaml --out DIR [--seeds 0,1,2] [--only a,b] [overrides...]   # a comparison set\n"
             "  sparselab asr|msrs|e2enet|spa [hydra overrides...]")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "bench":
        return _bench(rest)
    if cmd == "run":
        from core.training.experiments import main as run_set_main

        try:
            return run_set_main(rest)
        except (ValueError, FileNotFoundError, KeyError, RuntimeError) as e:
            return _error("sparselab run", str(e))
    if cmd in APPS:
        return _forward(cmd, rest)
    return _error("sparselab", f"unknown command {cmd!r}; valid: {', '.join(COMMANDS)}")


if __name__ == "__main__":
    sys.exit(main())
