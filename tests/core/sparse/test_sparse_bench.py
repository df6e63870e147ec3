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
    assert set(out) == {"dense", "engine", "ao", "mul"}
    d = out["dense"]
    assert d["target"] == core_sparse.TARGET and d["verdict"] == "not judged"  # smoke: shown, not judged
    assert d["baseline"] > 0 and d["value"] > 0 and d["inner"] == 2 and d["rounds"] == 2
    assert d["interval"][0] <= d["ratio"] <= d["interval"][1] and d["noise_floor"] > 0
    assert out["ao"]["peer"] == core_sparse.PEER_AO and out["mul"]["peer"] == core_sparse.PEER_MUL
    assert out["ao"]["target"] is None and out["ao"]["verdict"] is None
    assert not (tmp_path / "plots" / "core_sparse" / "density_tr_tiny.png").exists()  # smoke: scaling plot only
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(r["app"] == core_sparse.NAME for r in lines)
    e = out["engine"]
    assert e["metric"] == "step_time_engine_share" and e["verdict"] == "not judged" and e["n_samples"] == 2
    assert all(x > 1.0 for x in e["samples"]) and e["interval"][0] <= e["value"] <= e["interval"][1]


def test_engine_share_times_the_engine_inside_its_step_and_restores_the_hook(ctx):
    arms = core_sparse._Arms(core_sparse._cnn_task, dict(width=4, hw=8, batch=2), "cpu", 0, update_every=1)
    opt = arms.opts["ours"]
    before = dict(opt._optimizer_step_post_hooks)
    calls = []
    real_update = arms.sparsity.update_topology

    def slow_update(*a, **k):              # an engine that costs a known amount of CPU per step
        calls.append(1)
        x = 0
        for i in range(200_000):
            x += i
        return real_update(*a, **k)

    arms.sparsity.update_topology = slow_update
    e = core_sparse._attributed(ctx, "slow", arms, 1, 3, {}, None)
    assert len(calls) == 1 + 3                                   # warm-up + one update per step
    assert e["value"] > 1.5                                      # the busy loop dominates a tiny step
    assert dict(opt._optimizer_step_post_hooks) == before        # the timing wrapper is gone


def test_conv_model_has_no_torch_ao_row_and_says_why(ctx):
    out = core_sparse._overhead(ctx, "cnn_tiny", core_sparse._cnn_task, dict(width=4, hw=8, batch=2), update_every=3,
                                rounds=1)
    assert set(out) == {"dense", "engine", "mul"}
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
