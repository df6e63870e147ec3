"""Shared test setup: one thread per process (2-core machines), a headless plot backend, and an import
smoke check that runs before collection."""
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

_SMOKE = Path(__file__).with_name("import_smoke.py")


def pytest_sessionstart(session):
    """Import every module in a fresh interpreter first. A broken binary (torchaudio built for another torch,
    a missing wheel) then stops the run with one message naming the module and the library's error, instead
    of a collection error in every test file. SPARSELAB_SKIP_IMPORT_SMOKE=1 skips it (e.g. running one file
    while editing)."""
    if os.environ.get("SPARSELAB_SKIP_IMPORT_SMOKE") == "1" or getattr(session.config, "workerinput", None):
        return
    proc = subprocess.run([sys.executable, str(_SMOKE)], capture_output=True, text=True, timeout=600)
    session.config._sparselab_import_smoke = proc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("IMPORT FAILED")] or proc.stderr.splitlines()[-5:]
        pytest.exit("import smoke test failed: the installed packages do not import; reinstall from "
                    "requirements.lock (see README):\n  " + "\n  ".join(lines), returncode=1)
