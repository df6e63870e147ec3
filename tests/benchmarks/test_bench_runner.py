"""The runner end to end on the fake suite package: results, report, a failing module, selection, determinism."""
import json
import os
from pathlib import Path

import pytest

from benchmarks.runner import check_device, describe_modules, discover, run_suite, select_modules
from core.training.results import read_results


def test_discover_and_describe(fake_package):
    assert [i.name for i in discover(fake_package)] == ["alpha", "beta_fails", "gamma"]
    infos = describe_modules(fake_package)
    assert [(i.app, i.error) for i in infos] == [("alpha", ""), ("beta", ""), ("gamma", "")]
    assert infos[0].description.startswith("torch.sort")


def test_failing_module_reported_others_still_run(fake_package, tmp_path, capsys):
    out = tmp_path / "run"
    outcome = run_suite("smoke", "cpu", out_dir=out, package=fake_package, verbose=False)
    assert outcome.exit_code == 1 and outcome.failed == ["beta_fails"]
    assert outcome.statuses == {"alpha": "ok", "beta_fails": "failed", "gamma": "ok"}
    err = capsys.readouterr().err
    assert "Traceback" in err and "beta is broken on purpose" in err  # not swallowed
    rows = read_results(out / "results.jsonl")
    apps = [r["app"] for r in rows if r.get("kind") is None]
    assert "gamma" in apps and apps.index("gamma") > apps.index("beta")  # ran after the failure
    mods = {r["module"]: r for r in rows if r.get("kind") == "module"}
    assert mods["beta_fails"]["status"] == "failed" and "RuntimeError" in mods["beta_fails"]["error"]
    assert mods["alpha"]["status"] == "ok" and mods["alpha"]["records"] == 6 and mods["alpha"]["target"] == "<= 10"
    suite = [r for r in rows if r.get("kind") == "suite"]
    assert len(suite) == 1 and suite[0]["failed"] == 1 and suite[0]["modules"] == 3
    meta = json.loads((out / "run.json").read_text())
    assert meta["suite"] == "smoke" and meta["cpu_count"] >= 1 and meta["torch"] and meta["commit"]
    md = (out / "REPORT.md").read_text()
    assert "**FAILED**" in md and "## gamma" in md and "plots/alpha/sort_scaling.png" in md
    assert (out / "plots" / "alpha" / "sort_scaling.png").is_file()


def test_only_selection_seed_determinism_and_overwrite(fake_package, tmp_path):
    import torch

    torch.set_num_threads(2)
    a = run_suite("quick", "cpu", only="gamma,alpha", out_dir=tmp_path / "a", package=fake_package, seed=3,
                  verbose=False)
    assert a.exit_code == 0 and list(a.statuses) == ["alpha", "gamma"]
    assert torch.get_num_threads() == 2  # gamma set 1 thread; the runner restored it
    torch.set_num_threads(1)
    b = run_suite("quick", "cpu", only=["gamma"], out_dir=tmp_path / "b", package=fake_package, seed=3, verbose=False)
    mean = {k: next(r["value"] for r in read_results(tmp_path / k / "results.jsonl") if r["app"] == "gamma")
            for k in "ab"}
    assert b.exit_code == 0 and mean["a"] == mean["b"]  # same seed, same figure, whatever ran before
    with pytest.raises(ValueError, match="--overwrite"):
        run_suite("quick", "cpu", only="gamma", out_dir=tmp_path / "b", package=fake_package, verbose=False)
    c = run_suite("quick", "cpu", only="gamma", out_dir=tmp_path / "b", package=fake_package, seed=4,
                  overwrite=True, verbose=False)
    rows = read_results(tmp_path / "b" / "results.jsonl")
    assert c.exit_code == 0 and len(rows) == 3 and rows[0]["value"] != mean["b"]  # replaced, not appended


def test_argument_errors(fake_package, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="valid: alpha, beta_fails, gamma"):
        select_modules(discover(fake_package), "alpha,nope")
    with pytest.raises(ValueError, match="smoke, quick, standard, full"):
        run_suite("huge", "cpu", out_dir=tmp_path, package=fake_package)
    with pytest.raises(ValueError, match="choose cpu or cuda"):
        check_device("tpu")
    with pytest.raises(ValueError, match="cannot be imported"):
        discover("no_such_package_xyz")
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        check_device("cuda")
    assert not any(tmp_path.iterdir())  # nothing written before validation passed


def test_forced_failure_gives_an_honest_headline(fake_package, tmp_path):
    outcome = run_suite("smoke", "cpu", out_dir=tmp_path / "r", package=fake_package, verbose=False)
    first = (tmp_path / "r" / "REPORT.md").read_text().splitlines()[0]
    assert outcome.exit_code == 1
    assert first.startswith("# sparselab bench `smoke`: FAILED · modules: 2 ok, 1 failed, 0 interrupted, 0 skipped")
    assert "targets: 3 met, 1 missed" in first  # beta's figure before the failure is counted, nothing invented


@pytest.fixture
def interrupt_package(monkeypatch):
    from pathlib import Path

    import signal

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.setenv("SPARSELAB_PROGRESS", "0")
    # A process started in the background by a non-interactive shell inherits SIGINT as *ignored*, and Python then
    # installs no KeyboardInterrupt handler (the runner honours that, as a background job should). These tests
    # are about Ctrl-C reaching a foreground run, so give the test process Python's default handler.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield "bench_fake_interrupt"
    signal.signal(signal.SIGINT, previous)


def test_sigint_during_a_module_is_recorded_and_reported(interrupt_package, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSELAB_FAKE_SELF_SIGINT", "1")
    out = tmp_path / "r"
    outcome = run_suite("smoke", "cpu", out_dir=out, package=interrupt_package, verbose=False)
    assert outcome.interrupted and outcome.exit_code == 130
    assert outcome.statuses == {"a_ok": "ok", "b_stop": "interrupted", "c_skips": "skipped", "d_after": "skipped"}
    rows = read_results(out / "results.jsonl")
    mods = {r["module"]: r for r in rows if r.get("kind") == "module"}
    assert "SIGINT" in mods["b_stop"]["error"] and mods["b_stop"]["met"] is None
    assert "interrupted" in mods["d_after"]["error"]
    assert next(r for r in rows if r.get("kind") == "suite")["status"] == "interrupted"
    md = (out / "REPORT.md").read_text()
    assert md.splitlines()[0] == ("# sparselab bench `smoke`: INTERRUPTED · modules: 1 ok, 0 failed, 1 interrupted, "
                                  "2 skipped · targets: 2 met, 0 missed, 0 within noise, 0 not judged")
    b_row = next(line for line in md.splitlines() if line.startswith("| [b_stop]"))
    assert "🔴 **INTERRUPTED**" in b_row and "✔" not in b_row


def test_skip_and_staged_overwrite(interrupt_package, tmp_path, monkeypatch):
    out = tmp_path / "r"
    first = run_suite("smoke", "cpu", out_dir=out, package=interrupt_package, verbose=False, seed=1)
    assert first.exit_code == 0 and first.statuses["c_skips"] == "skipped"
    (out / "notes.txt").write_text("mine")
    old = (out / "results.jsonl").read_text()
    md = (out / "REPORT.md").read_text()
    assert "1 skipped" in md.splitlines()[0] and "optional peer 'nothing' is not installed" in md
    # an interrupted overwrite leaves the old results as they were; its own results go beside them
    monkeypatch.setenv("SPARSELAB_FAKE_SELF_SIGINT", "1")
    broken = run_suite("smoke", "cpu", out_dir=out, package=interrupt_package, verbose=False, overwrite=True, seed=2)
    assert broken.exit_code == 130 and broken.out_dir == tmp_path / "r.interrupted"
    assert (out / "results.jsonl").read_text() == old and (out / "notes.txt").read_text() == "mine"
    assert "INTERRUPTED" in (tmp_path / "r.interrupted" / "REPORT.md").read_text().splitlines()[0]
    # a completed overwrite swaps the new results in, other files stay
    monkeypatch.delenv("SPARSELAB_FAKE_SELF_SIGINT")
    again = run_suite("smoke", "cpu", out_dir=out, package=interrupt_package, verbose=False, overwrite=True, seed=3)
    assert again.exit_code == 0 and again.out_dir == out
    assert {r["seed"] for r in read_results(out / "results.jsonl") if r.get("kind") == "module"} == {3}
    assert (out / "notes.txt").read_text() == "mine" and not list(tmp_path.glob(".r.*"))


@pytest.mark.slow  # a fresh Python process importing torch: ~20 s on a loaded 2-core machine
def test_sigint_from_outside_a_cli_run(interrupt_package, tmp_path):
    """The real thing: Ctrl-C (SIGINT) sent to a running `sparselab bench` process."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    here = Path(__file__).resolve().parent
    marker = tmp_path / "marker"
    env = {**os.environ, "SPARSELAB_FAKE_MARKER": str(marker), "SPARSELAB_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(here), str(here.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.cli", "bench", "--suite", "smoke", "--suites-package",
                             interrupt_package, "--out", str(tmp_path / "r"), "--quiet"], env=env,
                            cwd=here.parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a foreground run
    try:
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "INTERRUPTED" in out
    assert (tmp_path / "r" / "REPORT.md").read_text().startswith("# sparselab bench `smoke`: INTERRUPTED")


def test_overwrite_reuses_work_under_runs_dir_and_swaps_every_staged_item(tmp_path, monkeypatch):
    """--overwrite stages results elsewhere, but training runs live in ctx.runs_dir (the final folder): a re-run
    re-records from them instead of training again, and a module's own result files are swapped in too."""
    import textwrap

    pkg = tmp_path / "pkg_reuse"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "trainer.py").write_text(textwrap.dedent('''
        NAME = "trainer"
        DESCRIPTION = "trains once into runs_dir, writes a table beside its results"

        def run(ctx):
            run = ctx.runs_dir / "trainer_runs" / "seed0.txt"
            if run.is_file():
                trained = False
            else:
                run.parent.mkdir(parents=True, exist_ok=True)
                run.write_text("weights")
                trained = True
            ctx.record("trainer", "m", "trained", int(trained), "")
            (ctx.out_dir / "trainer_TABLES.md").write_text(f"seed {ctx.seed}")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SPARSELAB_PROGRESS", "0")
    out = tmp_path / "out"

    def trained():
        return next(r["value"] for r in read_results(out / "results.jsonl") if r.get("metric") == "trained")

    assert run_suite("smoke", "cpu", out_dir=out, package="pkg_reuse", verbose=False, seed=1).exit_code == 0
    assert trained() == 1 and (out / "trainer_TABLES.md").read_text() == "seed 1"
    again = run_suite("smoke", "cpu", out_dir=out, package="pkg_reuse", verbose=False, seed=2, overwrite=True)
    assert again.exit_code == 0 and trained() == 0                     # the finished run was found, not retrained
    assert (out / "trainer_TABLES.md").read_text() == "seed 2"         # the module's table was swapped in
    assert (out / "trainer_runs" / "seed0.txt").read_text() == "weights" and not list(tmp_path.glob(".out.*"))


# ---- worker processes (--jobs), stale stage folders, the atomic swap (issues 28, 33) -------------------------------

def _keys(path):
    """What a results file says, without the measured times: (kind, app, variant, metric, status) in file order."""
    return [(r.get("kind"), r["app"], r["variant"], r["metric"], r.get("status")) for r in read_results(path)]


def test_two_workers_give_the_same_results_file_and_report_as_one_process(fake_package, tmp_path):
    one = run_suite("smoke", "cpu", out_dir=tmp_path / "one", package=fake_package, verbose=False, jobs=1)
    two = run_suite("smoke", "cpu", out_dir=tmp_path / "two", package=fake_package, verbose=False, jobs=2)
    assert one.statuses == two.statuses == {"alpha": "ok", "beta_fails": "failed", "gamma": "ok"}
    assert one.exit_code == two.exit_code == 1
    assert _keys(tmp_path / "one" / "results.jsonl") == _keys(tmp_path / "two" / "results.jsonl")   # same order
    gamma = [[r["value"] for r in read_results(tmp_path / k / "results.jsonl") if r["app"] == "gamma" and not r.get("kind")]
             for k in ("one", "two")]
    assert gamma[0] == gamma[1]                                   # same seed, same figure
    first = [(tmp_path / k / "REPORT.md").read_text().splitlines()[0] for k in ("one", "two")]
    assert first[0] == first[1]
    assert (tmp_path / "two" / "plots" / "alpha" / "sort_scaling.png").is_file()
    assert json.loads((tmp_path / "two" / "run.json").read_text())["jobs"] == 2
    assert not (tmp_path / "two" / ".workers").exists()
    mods = {r["module"]: r for r in read_results(tmp_path / "two" / "results.jsonl") if r.get("kind") == "module"}
    assert "RuntimeError: beta is broken on purpose" in mods["beta_fails"]["error"] and mods["alpha"]["records"] == 6


RENDEZVOUS = '''
import os, time
from pathlib import Path

NAME = "{name}"
DESCRIPTION = "waits until its peer runs at the same time"


def run(ctx):
    import torch

    d = Path(os.environ["SPARSELAB_TEST_RENDEZVOUS"])
    (d / "{name}").write_text(str(os.getpid()))
    deadline = time.time() + 60
    while not (d / "{peer}").exists() and time.time() < deadline:
        time.sleep(0.05)
    ctx.record(NAME, "v", "met_peer", float((d / "{peer}").exists()), "", target=">= 1")
    ctx.record(NAME, "v", "threads", torch.get_num_threads(), "")
    ctx.record(NAME, "v", "pid", os.getpid(), "")
'''


def test_modules_run_at_the_same_time_in_separate_one_thread_processes(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg_pair"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "left.py").write_text(RENDEZVOUS.format(name="left", peer="right"))
    (pkg / "right.py").write_text(RENDEZVOUS.format(name="right", peer="left"))
    (tmp_path / "meet").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SPARSELAB_PROGRESS", "0")
    monkeypatch.setenv("SPARSELAB_TEST_RENDEZVOUS", str(tmp_path / "meet"))
    out = run_suite("quick", "cpu", out_dir=tmp_path / "r", package="pkg_pair", verbose=False, jobs=2)
    assert out.exit_code == 0 and out.statuses == {"left": "ok", "right": "ok"}
    vals = {(r["app"], r["metric"]): r["value"] for r in read_results(tmp_path / "r" / "results.jsonl")
            if r.get("kind") is None}
    assert vals[("left", "met_peer")] == vals[("right", "met_peer")] == 1.0      # both ran at once
    assert vals[("left", "threads")] == vals[("right", "threads")] == 1
    assert len({vals[("left", "pid")], vals[("right", "pid")], float(os.getpid())}) == 3


def test_an_interrupted_module_in_a_worker_stops_the_run_with_an_honest_report(interrupt_package, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("SPARSELAB_FAKE_SELF_SIGINT", "1")
    out = tmp_path / "r"
    outcome = run_suite("smoke", "cpu", out_dir=out, package=interrupt_package, verbose=False, jobs=2)
    assert outcome.interrupted and outcome.exit_code == 130
    assert outcome.statuses["a_ok"] == "ok" and outcome.statuses["b_stop"] == "interrupted"
    assert set(outcome.statuses.values()) <= {"ok", "interrupted", "skipped"} and len(outcome.statuses) == 4
    rows = read_results(out / "results.jsonl")
    mods = [r["module"] for r in rows if r.get("kind") == "module"]
    assert sorted(mods) == ["a_ok", "b_stop", "c_skips", "d_after"]            # one record per module
    assert next(r for r in rows if r.get("kind") == "suite")["status"] == "interrupted"
    assert any(r["app"] == "b_stop" and r["variant"] == "before" for r in rows)  # its figure before the stop kept
    assert (out / "REPORT.md").read_text().startswith("# sparselab bench `smoke`: INTERRUPTED")


@pytest.mark.slow  # fresh Python processes importing torch
def test_sigterm_to_a_parallel_cli_run_stops_its_workers(interrupt_package, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    here = Path(__file__).resolve().parent
    marker = tmp_path / "marker"
    env = {**os.environ, "SPARSELAB_FAKE_MARKER": str(marker), "SPARSELAB_PROGRESS": "0",
           "PYTHONPATH": os.pathsep.join([str(here), str(here.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.cli", "bench", "--suite", "quick", "--jobs", "2",
                             "--suites-package", interrupt_package, "--out", str(tmp_path / "r"), "--quiet"],
                            env=env, cwd=here.parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    rows = read_results(tmp_path / "r" / "results.jsonl")
    mods = {r["module"]: r for r in rows if r.get("kind") == "module"}
    assert mods["b_stop"]["status"] == "interrupted" and "SIGTERM" in mods["b_stop"]["error"]
    assert (tmp_path / "r" / "REPORT.md").read_text().startswith("# sparselab bench `quick`: INTERRUPTED")


def test_bad_jobs_value(fake_package, tmp_path):
    with pytest.raises(ValueError, match="jobs=0 must be an integer >= 1"):
        run_suite("smoke", "cpu", out_dir=tmp_path / "x", package=fake_package, jobs=0)
    from benchmarks.runner import default_jobs

    assert (default_jobs("smoke"), default_jobs("quick"), default_jobs("standard")) == (1, 2, 2)


def test_stale_stage_folders_of_dead_runs_are_cleaned_and_their_moved_work_put_back(fake_package, tmp_path):
    out = tmp_path / "r"
    assert run_suite("smoke", "cpu", only="gamma", out_dir=out, package=fake_package, verbose=False).exit_code == 0
    # a --overwrite killed with SIGKILL: its stage, and one killed mid-swap with a training run journalled as moved
    (tmp_path / ".r.new-99999999" / "plots").mkdir(parents=True)
    mid = tmp_path / ".r.new-99999998"
    (mid / "trainer_runs").mkdir(parents=True)
    (mid / "trainer_runs" / "seed0.txt").write_text("weights")
    (mid / ".swap-journal").write_text("trainer_runs\n")
    (tmp_path / ".r.old-99999997").mkdir()
    live = tmp_path / f".r.new-{os.getpid()}x"       # not a stage name: left alone
    live.mkdir()
    again = run_suite("smoke", "cpu", only="gamma", out_dir=out, package=fake_package, verbose=False, overwrite=True)
    assert again.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".r.")) == [live.name]
    assert (out / "trainer_runs" / "seed0.txt").read_text() == "weights"       # nothing of the killed run lost


def test_the_swap_is_one_atomic_exchange_of_two_folders(fake_package, tmp_path, monkeypatch):
    import benchmarks.runner as runner

    out = tmp_path / "r"
    run_suite("smoke", "cpu", only="gamma", out_dir=out, package=fake_package, verbose=False, seed=1)
    (out / "runs_kept").mkdir()
    (out / "runs_kept" / "w.pt").write_text("w")
    old = (out / "results.jsonl").read_text()
    seen = []
    real = runner.exchange_dirs

    def spy(a, b):
        # just before the one atomic step: OUT still holds the complete old results, the stage the complete new ones
        assert Path(b) == out and (out / "results.jsonl").read_text() == old and (out / "REPORT.md").is_file()
        assert (Path(a) / "results.jsonl").is_file() and (Path(a) / "run.json").is_file()
        assert (Path(a) / "runs_kept" / "w.pt").is_file()                     # carried over by rename
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(runner, "exchange_dirs", spy)
    renamed = []
    real_rename = os.rename
    monkeypatch.setattr(os, "rename", lambda a, b: (renamed.append((str(a), str(b))), real_rename(a, b))[1])
    again = run_suite("smoke", "cpu", only="gamma", out_dir=out, package=fake_package, verbose=False, seed=2,
                      overwrite=True)
    assert again.exit_code == 0 and len(seen) == 1
    assert not any(Path(a).parent == out and Path(a).name in runner.RESULT_ITEMS for a, _ in renamed)  # no 2-step move
    assert {r["seed"] for r in read_results(out / "results.jsonl")} == {2}
    assert (out / "runs_kept" / "w.pt").read_text() == "w" and not list(tmp_path.glob(".r.*"))
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "x" / "a").write_text("a")
    if real(tmp_path / "x", tmp_path / "y"):                           # Linux: the two folders trade places
        assert (tmp_path / "y" / "a").is_file() and not (tmp_path / "x" / "a").exists()


def test_a_crash_at_the_swap_keeps_the_old_results_and_loses_no_work(fake_package, tmp_path, monkeypatch):
    import benchmarks.runner as runner

    out = tmp_path / "r"
    run_suite("smoke", "cpu", only="gamma", out_dir=out, package=fake_package, verbose=False, seed=1)
    (out / "runs_kept").mkdir()
    (out / "runs_kept" / "w.pt").write_text("w")
    old = (out / "results.jsonl").read_text()

    def crash(a, b):
        raise OSError("power cut")

    monkeypatch.setattr(runner, "exchange_dirs", crash)
    with pytest.raises(OSError, match="power cut"):
        run_suite("smoke", "cpu", only="gamma", out_dir=out, package=fake_package, verbose=False, seed=2,
                  overwrite=True)
    assert (out / "results.jsonl").read_text() == old                 # the old results, complete
    stage = tmp_path / f".r.new-{os.getpid()}"
    os.rename(stage, tmp_path / ".r.new-99999999")                    # as if that process were gone
    runner.clean_stale_stages(out)
    assert (out / "runs_kept" / "w.pt").read_text() == "w" and not list(tmp_path.glob(".r.*"))


def test_bench_run_json_is_written_atomically(fake_package, tmp_path, monkeypatch):
    replaced = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append(os.path.basename(b)), real(a, b))[1])
    run_suite("smoke", "cpu", only="gamma", out_dir=tmp_path / "r", package=fake_package, verbose=False)
    assert "run.json" in replaced and json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "complete"
