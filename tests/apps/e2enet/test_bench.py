import pytest

from benchmarks.suites import e2enet as suite


def test_variants_cover_the_issue():
    names = [n for n, _ in suite._variants(suite.SIZES["quick"])]
    assert names == ["E2ENet dense", "E2ENet S=0.7", "E2ENet S=0.8", "E2ENet S=0.9", "DynUNet (nnU-Net)"]
    assert suite.SIZES["full"]["channels"] == [48, 96, 192, 320, 320, 320]


@pytest.mark.slow
def test_smoke_suite_records_targets_and_plots(tmp_path):
    from benchmarks.context import BenchContext
    from core.training import ResultsWriter, read_results

    ctx = BenchContext(suite="smoke", device="cpu", seed=0, out_dir=tmp_path, writer=ResultsWriter(tmp_path / "r.jsonl"), verbose=False)
    suite.run(ctx)
    recs = read_results(tmp_path / "r.jsonl")
    metrics = {(r["variant"], r["metric"]) for r in recs}
    assert ("E2ENet S=0.8 vs dense", "params_nonzero_ratio") in metrics
    assert (tmp_path / "plots" / "e2enet" / "validation_slice.png").is_file()
    assert (tmp_path / "plots" / "e2enet" / "sw_inference_scaling.png").is_file()
