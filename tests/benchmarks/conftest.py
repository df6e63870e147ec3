"""Fixtures for the benchmark framework tests: the tiny fake suite package, small result files."""
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FAKE_PACKAGE = "bench_fake_suites"


@pytest.fixture
def fake_package(monkeypatch):
    """Name of the importable package of fake benchmark modules (alpha ok, beta_fails raises, gamma ok)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("SPARSELAB_PROGRESS", "0")
    return FAKE_PACKAGE


@pytest.fixture
def virtual_clock(monkeypatch):
    """Replace the timing clocks by a virtual one (see fake_clock.py); returns it."""
    monkeypatch.syspath_prepend(str(HERE))
    import benchmarks.timing
    import fake_clock as clock

    vc = clock.VirtualClock()
    monkeypatch.setattr(benchmarks.timing, "time", vc.as_time_module())
    monkeypatch.setattr(clock, "CLOCK", vc)
    return vc
