"""The runner end to end on the fake suite package: results, report, a failing module, selection, determinism."""
import json

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
