"""The comparison summary: paired by seed, compute to reach full data's final dev WER; the sets compose."""
import pytest

from apps.asr_ddp.experiments import compose, format_table, first_reach, summarise


def _run(wer, cpu, curve):
    return {"test_wer": wer, "train_cpu_s": cpu, "steps": 10, "audio_fraction": 1.0,
            "dev_curve": [{"train_cpu_s": c, "step": 5 * (i + 1), "dev_wer": w} for i, (c, w) in enumerate(curve)]}


def test_summary_pairs_seeds_and_measures_compute_to_full_quality():
    res = {"full": {0: _run(0.10, 100, [(50, 0.3), (100, 0.12)]), 1: _run(0.20, 110, [(55, 0.3), (110, 0.2)])},
           "dyn": {0: _run(0.11, 60, [(30, 0.2), (60, 0.11)]), 1: _run(0.18, 70, [(35, 0.19), (70, 0.15)])}}
    t = summarise(res)
    assert t["dyn"]["rel_wer_per_seed"] == pytest.approx([0.1, -0.1])
    assert t["dyn"]["rel_wer_vs_full"][0] == pytest.approx(0.0)
    assert t["dyn"]["cpu_to_full_dev_wer"] == [60, 35]                  # first eval at or below full's final dev WER
    assert t["dyn"]["steps_to_full_dev_wer"] == [10, 5]                 # ... and its step
    assert t["dyn"]["speedup_to_full_dev_wer"] == pytest.approx([100 / 60, 110 / 35])
    assert first_reach([{"train_cpu_s": 1, "dev_wer": 0.5}], 0.4) is None
    assert "| dyn | 2 |" in format_table(t)
    assert format_table(t).rstrip().endswith("| 60 (10), 35 (5) |")


@pytest.mark.slow          # ~20 s: composes and validates every run of both sets
def test_every_run_of_the_sets_composes_and_validates():
    from core.training.experiments import load_set

    from apps.asr_ddp.experiments import CONFIG_DIR
    from apps.asr_ddp.recipe import validate, variant_name

    for name in ("digits", "espeak"):
        cs = load_set(f"{CONFIG_DIR}/sets/{name}.yaml")
        names = set()
        for run, spec in cs.runs.items():
            c = compose([*cs.common, *spec.overrides])
            validate(c)
            names.add(variant_name(c))
        assert len(names) == len(cs.runs)                               # every run is a distinct variant
