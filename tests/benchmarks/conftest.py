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
