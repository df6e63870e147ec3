"""BenchContext: JSON-lines schema written through ResultsWriter, ratio/met, paths, sizes, bad input."""
import json
import statistics

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


def _work(n):
    data = list(range(n))
    return lambda: sum(x * x for x in data)


def test_compare_timing_records_ratio_interval_noise_floor_and_verdicts(tmp_path, virtual_clock):
    _work = virtual_clock.work                   # 3x the work reads about 3x, whatever else runs on the machine
    ctx = make_ctx(tmp_path)
    ctx.app = "core"
    slow = ctx.compare_timing("triple", _work(20_000), _work(60_000), target="<= 1.05", rounds=7, warmup=1)
    assert slow["verdict"] == "missed" and slow["met"] is False and slow["ratio"] > 2
    lo, hi = slow["interval"]
    assert lo <= slow["ratio"] <= hi and slow["ratio_interval"][0] >= lo and slow["noise_floor"] > 0
    assert slow["clock"] in ("thread_cpu_time", "process_cpu_time") and slow["rounds"] == 7
    assert slow["value"] > slow["baseline"] > 0 and slow["app"] == "core" and slow["higher_is_better"] is False
    same = ctx.compare_timing("same", _work(20_000), _work(20_000), target="<= 2", rounds=7, warmup=1,
                              peer="python-sum", baseline_name="sum()")
    assert same["verdict"] == "met" and same["peer"] == "python-sum" and same["baseline_name"] == "sum()"
    small = ctx.compare_timing("tiny", _work(100), _work(300), target="<= 1.05", rounds=5, warmup=0,
                               not_judged="100 items cannot stand for the 10M-item claim")
    assert small["verdict"] == "not judged" and small["met"] is None and "10M" in small["not_judged_reason"]
    with pytest.raises(ValueError, match="on the ratio"):
        ctx.compare_timing("x", _work(10), _work(10), target="within 0.1", rounds=1)
    with pytest.raises(ValueError, match="callable"):
        ctx.compare_timing("x", 3, _work(10), rounds=1)


def test_record_seeds_paired_verdicts_indicative_and_errors(tmp_path):
    ctx = make_ctx(tmp_path, suite="standard")
    ctx.app = "app"
    # method within 5% of dense on every seed although the seeds spread widely (paired comparison)
    dense = {0: 43.8, 1: 30.6, 2: 26.8}
    ours = {0: 43.0, 1: 30.9, 2: 26.5}
    r = ctx.record_seeds("ours", "dice", ours, baseline=dense, target="within 5%", unit="%")
    assert r["verdict"] == "met" and r["judged_on"] == "paired relative difference" and not r["indicative"]
    assert r["n_seeds"] == 3 and r["seeds"] == [0, 1, 2] and r["per_seed"] == [43.0, 30.9, 26.5]
    assert r["value"] == pytest.approx(sum(ours.values()) / 3) and r["baseline"] == pytest.approx(101.2 / 3)
    assert r["std"] == pytest.approx(statistics.stdev(ours.values()))
    worse = ctx.record_seeds("worse", "dice", [30.0, 20.0, 18.0], baseline=[43.8, 30.6, 26.8], target=">= 0.95")
    assert worse["verdict"] == "missed" and worse["judged_on"] == "paired ratio"
    noisy = ctx.record_seeds("noisy", "dice", [45.0, 28.0, 27.0], baseline=dense, target="within 5%")
    assert noisy["verdict"] == "within noise"
    two = ctx.record_seeds("two", "acc", {3: 0.91, 4: 0.92}, target=">= 0.8")  # t(1) = 12.7: wide
    assert two["indicative"] is True and two["verdict"] == "met" and two["seed"] is None
    one = ctx.record_seeds("one", "acc", [0.7], target=">= 0.8")
    assert one["verdict"] == "missed" and one["indicative"] is True
    assert ctx.record_seeds("nj", "acc", [0.7, 0.8, 0.9], target=">= 0.8",
                            not_judged="3 epochs: the model has not learned")["verdict"] == "not judged"
    with pytest.raises(ValueError, match="paired by seed"):
        ctx.record_seeds("x", "acc", {0: 1.0, 1: 1.0}, baseline={0: 1.0, 2: 1.0}, target="<= 1")
    with pytest.raises(ValueError, match="needs a baseline"):
        ctx.record_seeds("x", "acc", [1.0, 2.0], target="within 5%")
    with pytest.raises(ValueError, match="seed 1 must be a finite number"):
        ctx.record_seeds("x", "acc", [1.0, float("nan")])
    with pytest.raises(ValueError, match="given twice"):
        ctx.record_seeds("x", "acc", [1.0, 2.0], seeds=[0, 0])


def test_record_samples_judges_the_median_interval(tmp_path):
    ctx = make_ctx(tmp_path, suite="standard")
    ctx.app = "app"
    tight = [1.004, 1.005, 1.006, 1.003, 1.005, 1.004, 1.007, 1.005, 1.006]
    r = ctx.record_samples("ours", "share", tight, target="<= 1.02", unit="x")
    assert r["verdict"] == "met" and r["value"] == pytest.approx(1.005) and r["n_samples"] == 9
    assert r["interval"][0] <= 1.005 <= r["interval"][1] <= 1.007 and r["samples"] == tight
    assert r["judged_on"] == "median of 9 samples" and r["interval_coverage"] >= 0.95
    straddle = ctx.record_samples("s", "share", [0.99, 1.0, 1.01, 1.03, 1.04, 1.05, 1.0, 1.02, 1.03], target="<= 1.02")
    assert straddle["verdict"] == "within noise"
    assert ctx.record_samples("m", "share", [1.10, 1.12, 1.11, 1.13, 1.09, 1.1], target="<= 1.02")["verdict"] == "missed"
    assert ctx.record_samples("nj", "share", [1.0] * 6, target="<= 1.02", not_judged="tiny")["verdict"] == "not judged"
    with pytest.raises(ValueError, match="finite"):
        ctx.record_samples("x", "share", [1.0, float("inf")])
    with pytest.raises(ValueError, match="no values"):
        ctx.record_samples("x", "share", [])
    with pytest.raises(ValueError, match="record_samples judges"):
        ctx.record_samples("x", "share", [1.0, 1.0], target="within 5%")


def test_standard_sizes_fall_back_to_quick_and_say_so(tmp_path):
    ctx = make_ctx(tmp_path, suite="standard")
    ctx.module = ctx.app = "legacy"
    assert ctx.sizes(smoke=1, quick=2, full=4) == 2 and ctx.sizes(smoke=1, quick=20, full=40) == 20
    notes = [r for r in ctx.records if r.get("kind") == "note"]
    assert len(notes) == 1 and "no `standard` sizes" in notes[0]["text"]   # said once per module
    assert ctx.sizes(smoke=1, quick=2, standard=3, full=4) == 3
    assert ctx.seed_list() == [7, 8, 9] and make_ctx(tmp_path / "q", suite="smoke").seed_list() == [7]


def test_headline_plot_and_not_judged_record(tmp_path):
    ctx = make_ctx(tmp_path)
    ctx.app = "app"
    path = ctx.headline_plot([dict(method="dense", x=10.0, y=0.8, y_err=0.02, n_seeds=3),
                              dict(method="sparse", x=6.0, y=0.79, x_err=[5.5, 6.4], y_err=0.03)],
                             x_label="training time [s]", y_label="accuracy")
    assert path == tmp_path / "plots" / "app" / "headline.png" and path.stat().st_size > 1000
    head = ctx.records[-1]
    assert head["kind"] == "headline" and [p["method"] for p in head["points"]] == ["dense", "sparse"]
    bars = ctx.headline_plot([dict(method="ours / dense", x=1.01, x_err=[0.99, 1.03])], x_label="ratio", target=1.02)
    assert bars.is_file()
    with pytest.raises(ValueError, match="needs a numeric 'x'"):
        ctx.headline_plot([dict(method="m")], x_label="x")
    r = ctx.record("app", "v", "setup_time", 0.01, "s", target="<= 1", not_judged="100k items, claim is 10M")
    assert r["verdict"] == "not judged" and r["met"] is None
