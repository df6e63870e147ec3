"""Every module of core, apps and benchmarks imports in a fresh interpreter (run once by conftest)."""
import subprocess
import sys
from pathlib import Path

SMOKE = Path(__file__).resolve().parents[1] / "import_smoke.py"


def test_every_module_imports_in_a_fresh_interpreter(pytestconfig):
    proc = getattr(pytestconfig, "_sparselab_import_smoke", None)
    if proc is None:  # conftest's check was skipped: run it here
        proc = subprocess.run([sys.executable, str(SMOKE)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORT FAILED" not in proc.stdout
    n_ok, n_all = proc.stdout.strip().splitlines()[-1].split()[1::2][:2]
    assert n_ok == n_all and int(n_all) > 50
