"""The real suite: `sparselab bench --suite smoke` over every module in benchmarks/suites (CI's smoke run of the main job)."""
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.runner import discover
from core.training.results import read_results

ROOT = Path(__file__).resolve().parents[2]


def test_real_smoke_suite(tmp_path):
    names = [i.name for i in discover()]
    assert names, "no modules in benchmarks/suites"
    out = tmp_path / "smoke"
    env = {**os.environ, "SPARSELAB_PROGRESS": "0", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "bench", "--suite", "smoke", "--out", str(out),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    rows = read_results(out / "results.jsonl")
    status = {r["module"]: r["status"] for r in rows if r.get("kind") == "module"}
    assert set(status) == set(names)
    assert proc.returncode == 0, f"failed modules: {[n for n, s in status.items() if s != 'ok']}\n{proc.stderr[-4000:]}"
    md = (out / "REPORT.md").read_text()
    assert md.splitlines()[0].startswith("# sparselab bench `smoke`: complete · modules: ")
    for name in names:
        assert f"| {name} | ok |" in md
    # the peers side by side of the core suites are rows of the report, with their ratio
    peers = {r["peer"] for r in rows if r.get("peer")}
    if "core_sparse" in names:
        assert {"torch.ao.pruning WeightNormSparsifier (FakeSparsity)",
                "bare mask multiply (weight.mul_(mask) after the step)"} <= peers
    if "core_pruning" in names:
        assert {"torch.randperm(n) (floor)", "InfoBatch (official logic)"} <= peers
    assert "## Peers side by side" in md and all(r.get("ratio") for r in rows if r.get("peer"))
