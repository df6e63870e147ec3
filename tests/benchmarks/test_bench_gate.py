"""compare as a gate end to end: two back-to-back runs of one commit pass; a deliberately slowed engine fails.

Timed on the virtual clock (fake_clock.py): the runs differ by a seeded jitter, not by the load
of the machine the tests run on.
"""
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.runner import run_suite


@pytest.fixture
def timing_package(monkeypatch, virtual_clock):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.setenv("SPARSELAB_PROGRESS", "0")
    monkeypatch.delenv("SPARSELAB_FAKE_SLOWDOWN", raising=False)
    return "bench_fake_timing"


def test_back_to_back_runs_pass_and_a_slowed_engine_fails(timing_package, tmp_path, monkeypatch, capsys):
    for name in ("a", "b"):
        assert run_suite("smoke", "cpu", out_dir=tmp_path / name, package=timing_package, verbose=False).exit_code == 0
    assert main(["bench", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--fail-on-regression"]) == 0
    assert "Gate passes" in capsys.readouterr().out
    monkeypatch.setenv("SPARSELAB_FAKE_SLOWDOWN", "1.5")   # the engine now does 2.5x the step's work
    run_suite("smoke", "cpu", out_dir=tmp_path / "slow", package=timing_package, verbose=False)
    assert main(["bench", "compare", str(tmp_path / "a"), str(tmp_path / "slow"), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "Gate FAILS: 1 regression(s)" in out and "engine / step / time" in out
