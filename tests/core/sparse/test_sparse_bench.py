"""The core_sparse benchmark module's pieces run on tiny sizes and record well-formed figures."""
import json

import pytest

from benchmarks.context import BenchContext
from benchmarks.suites import core_sparse
from core.training.results import ResultsWriter


@pytest.fixture
def ctx(tmp_path):
    return BenchContext(suite="smoke", device="cpu", seed=0, out_dir=tmp_path, writer=ResultsWriter(tmp_path / "r.jsonl"),
                        verbose=False)


def test_overhead_records_both_figures(ctx, tmp_path):
    core_sparse._overhead(ctx, "cnn_tiny", core_sparse._cnn_task, dict(width=4, hw=8, batch=2), steps=6, update_every=3)
    recs = {r["metric"]: r for r in ctx.records}
    assert set(recs) == {"step_time_amortized", "step_time_engine"}
    e = recs["step_time_engine"]
    assert e["baseline"] > 0 and e["value"] > e["baseline"]  # the engine costs something, however small
    assert e["target"] is None and e["ratio"] == pytest.approx(e["value"] / e["baseline"])  # smoke: no target
    assert recs["step_time_amortized"]["updates"] == 2 and recs["step_time_amortized"]["target"] is None  # smoke
    assert not (tmp_path / "plots" / "core_sparse" / "density_cnn_tiny.png").exists()  # smoke: scaling plot only
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(r["app"] == core_sparse.NAME for r in lines)


def test_quick_suite_sets_the_target(tmp_path):
    ctx = BenchContext(suite="quick", device="cpu", seed=0, out_dir=tmp_path, writer=ResultsWriter(tmp_path / "r.jsonl"),
                       verbose=False)
    core_sparse._overhead(ctx, "cnn_tiny", core_sparse._cnn_task, dict(width=4, hw=8, batch=2), steps=4, update_every=2)
    assert [r["target"] for r in ctx.records] == ["<= 1.02", "<= 1.02"]
    assert all(r["met"] in (True, False) for r in ctx.records)
    assert (tmp_path / "plots" / "core_sparse" / "density_cnn_tiny.png").exists()


def test_scaling_records_and_plots(ctx, tmp_path):
    core_sparse._scaling(ctx, [8, 16], repeats=1)
    times = [r for r in ctx.records if r["metric"].endswith("_time")]
    assert len(times) == 6 and all(r["value"] > 0 for r in times)
    assert sorted({r["params"] for r in times}) == [4 * 8 * 8, 4 * 16 * 16]
    assert (tmp_path / "plots" / "core_sparse" / "update_scaling.png").stat().st_size > 1000
