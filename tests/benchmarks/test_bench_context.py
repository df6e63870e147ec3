"""BenchContext: JSON-lines schema written through ResultsWriter, ratio/met, paths, sizes, bad input."""
import json

import pytest
import torch

from benchmarks.context import BenchContext
from core.training.results import RESULT_FIELDS, ResultsWriter, read_results


def make_ctx(tmp_path, suite="smoke", verbose=False):
    return BenchContext(suite=suite, device="cpu", seed=7, out_dir=tmp_path,
                        writer=ResultsWriter(tmp_path / "results.jsonl"), verbose=verbose)


def test_record_writes_schema_ratio_and_met(tmp_path, capsys):
    ctx = make_ctx(tmp_path, verbose=True)
    ctx.record("app1", "sparse", "step_time", 0.0105, "s", baseline=0.01, target="<= 1.02", wall_s=1.5, steps=10)
    ctx.record("app1", "sparse", "accuracy", torch.tensor(0.91), "", target=">= 0.9")
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(x) for x in lines)
    assert set(RESULT_FIELDS) <= set(first)
    assert (first["suite"], first["app"], first["variant"], first["metric"]) == ("smoke", "app1", "sparse", "step_time")
    assert (first["device"], first["seed"], first["unit"], first["wall_s"], first["steps"]) == ("cpu", 7, "s", 1.5, 10)
    assert first["ratio"] == pytest.approx(1.05)
    assert first["met"] is False and first["higher_is_better"] is False
    assert second["value"] == pytest.approx(0.91) and isinstance(second["value"], float)
    assert second["met"] is True and second["ratio"] is None and second["higher_is_better"] is True
    assert read_results(tmp_path / "results.jsonl") == [first, second] == ctx.records
    out = capsys.readouterr().out
    assert "target <= 1.02 -> MISSED" in out and "target >= 0.9 -> MET" in out and "ratio 1.05" in out


def test_explicit_direction_and_nan(tmp_path):
    ctx = make_ctx(tmp_path)
    rec = ctx.record("a", "v", "m", float("nan"), target="> 0", higher_is_better=False)
    assert rec["value"] is None and rec["met"] is False and rec["higher_is_better"] is False


@pytest.mark.parametrize("kw, match", [
    (dict(target="about 1"), "not understood"),
    (dict(met=True), "reserved"),
    (dict(ratio=2.0), "reserved"),
    (dict(target="within 0.1"), "needs a baseline"),
])
def test_record_rejects_bad_input_before_writing(tmp_path, kw, match):
    ctx = make_ctx(tmp_path)
    with pytest.raises(ValueError, match=match):
        ctx.record("a", "v", "m", 1.0, **kw)
    assert not (tmp_path / "results.jsonl").exists() or (tmp_path / "results.jsonl").read_text() == ""


def test_record_rejects_empty_names_and_non_numbers(tmp_path):
    ctx = make_ctx(tmp_path)
    with pytest.raises(ValueError, match="app="):
        ctx.record("", "v", "m", 1.0)
    with pytest.raises(ValueError, match="must be a number"):
        ctx.record("a", "v", "m", "fast")


def test_plot_path_and_sizes(tmp_path):
    ctx = make_ctx(tmp_path, suite="quick")
    p = ctx.plot_path("app1", "curve")
    assert p == tmp_path / "plots" / "app1" / "curve.png" and p.parent.is_dir()
    assert ctx.plot_path("app1", "x.png").name == "x.png"
    with pytest.raises(ValueError, match="plain non-empty file name"):
        ctx.plot_path("app1", "../escape")
    assert ctx.sizes(smoke=1, quick=2, full=3) == 2 and ctx.sizes(smoke=1, quick=2, standard=5, full=3) == 2
    assert make_ctx(tmp_path / "s").sizes(smoke=[1], quick=[2], full=[3]) == [1]
    assert list(ctx.progress(range(3), total=3, desc="x")) == [0, 1, 2]


def test_unknown_suite(tmp_path):
    with pytest.raises(ValueError, match="smoke, quick, standard, full"):
        make_ctx(tmp_path, suite="huge")
