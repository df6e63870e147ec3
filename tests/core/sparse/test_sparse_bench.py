"""The core_sparse benchmark module's pieces run on tiny sizes and record well-formed figures."""
import json

import pytest

from benchmarks.context import BenchContext
from benchmarks.suites import core_sparse
from core.training.results import ResultsWriter


@pytest.fixture
def ctx(tmp_path):
    return BenchContext(suite="smoke", device="cpu", seed=0, out_dir=tmp_path, writer=ResultsWriter(tmp_path / "r.jsonl"),
                        verbose=False, app=core_sparse.NAME)


def test_overhead_records_dense_and_peer_rows(ctx, tmp_path):
    out = core_sparse._overhead(ctx, "tr_tiny", core_sparse._transformer_task, dict(d_model=8, seq=4, batch=2),
                                update_every=2, rounds=2)
    assert set(out) == {"dense", "ao", "mul"}
    d = out["dense"]
    assert d["target"] == core_sparse.TARGET and d["verdict"] == "not judged"  # smoke: shown, not judged
    assert d["baseline"] > 0 and d["value"] > 0 and d["inner"] == 2 and d["rounds"] == 2
    assert d["interval"][0] <= d["ratio"] <= d["interval"][1] and d["noise_floor"] > 0
    assert out["ao"]["peer"] == core_sparse.PEER_AO and out["mul"]["peer"] == core_sparse.PEER_MUL
    assert out["ao"]["target"] is None and out["ao"]["verdict"] is None
    assert not (tmp_path / "plots" / "core_sparse" / "density_tr_tiny.png").exists()  # smoke: scaling plot only
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and all(r["app"] == core_sparse.NAME for r in lines)


def test_conv_model_has_no_torch_ao_row_and_says_why(ctx):
    out = core_sparse._overhead(ctx, "cnn_tiny", core_sparse._cnn_task, dict(width=4, hw=8, batch=2), update_every=3,
                                rounds=1)
    assert set(out) == {"dense", "mul"}
    assert any("2-D weights only" in r.get("text", "") for r in ctx.records if r.get("kind") == "note")


def test_quick_suite_judges_the_target(tmp_path):
    ctx = BenchContext(suite="quick", device="cpu", seed=0, out_dir=tmp_path, writer=ResultsWriter(tmp_path / "r.jsonl"),
                       verbose=False, app=core_sparse.NAME)
    out = core_sparse._overhead(ctx, "cnn_tiny", core_sparse._cnn_task, dict(width=4, hw=8, batch=2), update_every=2,
                                rounds=2, peers=False)
    assert out["dense"]["verdict"] in ("met", "missed", "within noise")
    assert (tmp_path / "plots" / "core_sparse" / "density_cnn_tiny.png").exists()


def test_scaling_records_and_plots(ctx, tmp_path):
    core_sparse._scaling(ctx, [8, 16], repeats=1)
    times = [r for r in ctx.records if r["metric"].endswith("_time")]
    assert len(times) == 6 and all(r["value"] > 0 for r in times)
    assert sorted({r["params"] for r in times}) == [4 * 8 * 8, 4 * 16 * 16]
    assert (tmp_path / "plots" / "core_sparse" / "update_scaling.png").stat().st_size > 1000
