"""The comparison summary: paired by seed, compute to reach full data's final dev WER; the sets compose into settings
with one schedule for every pruned row."""
import pytest

from apps.asr_ddp.report import first_reach, format_table, summarise


def _run(wer, cpu, curve):
    return {"test_wer": wer, "train_cpu_s": cpu, "steps": 10, "audio_fraction": 1.0,
            "dev_curve": [{"train_cpu_s": c, "step": 5 * (i + 1), "dev_wer": w} for i, (c, w) in enumerate(curve)]}


def test_summary_pairs_seeds_and_measures_compute_to_full_quality():
    res = {"full": {0: _run(0.10, 100, [(50, 0.3), (100, 0.12)]), 1: _run(0.20, 110, [(55, 0.3), (110, 0.2)])},
           "dyn": {0: _run(0.11, 60, [(30, 0.2), (60, 0.11)]), 1: _run(0.18, 70, [(35, 0.19), (70, 0.15)])}}
    t = summarise(res)
    assert t["dyn"]["rel_wer_per_seed"] == pytest.approx([0.1, -0.1])
    assert t["dyn"]["rel_wer_vs_full"][0] == pytest.approx(0.0)
    assert t["dyn"]["test_wer"][1] == pytest.approx(12.706 * 0.035, rel=1e-3)      # 95 % t half-width, 2 seeds
    assert t["dyn"]["cpu_to_full_dev_wer"] == [60, 35]                  # first eval at or below full's final dev WER
    assert t["dyn"]["steps_to_full_dev_wer"] == [10, 5]                 # ... and its step
    assert t["dyn"]["speedup_to_full_dev_wer"] == pytest.approx([100 / 60, 110 / 35])
    assert first_reach([{"train_cpu_s": 1, "dev_wer": 0.5}], 0.4) is None
    md = format_table(t)
    assert "| dyn | 2 | 14.50 | 11.0 / 18.0 | -0.0% |" in md
    assert md.splitlines()[-1].endswith("| 60 (10), 35 (5) |")


@pytest.mark.parametrize("set_name", ["arabic", "digits", "espeak"])
def test_every_run_of_the_sets_composes_into_settings_with_one_schedule(set_name):
    """Equal budgets: every pruned row of a comparison has the same warm-up and annealing (InfoBatch keeps its
    official annealing and is labelled), and the 0.7 rows keep the same number of items."""
    from apps.asr_ddp.recipe import settings_from_config
    from apps.common.hydra_config import APPS_ROOT, compose
    from core.training.experiments import load_set

    cs = load_set(APPS_ROOT / "asr_ddp" / "configs" / "sets" / f"{set_name}.yaml")
    settings = {run: settings_from_config(compose("asr_ddp", [*cs.common, *spec.overrides]))
                for run, spec in cs.runs.items()}
    assert len({s.variant for s in settings.values()}) == len(cs.runs)        # every run is a distinct variant
    pruned = {r: s.pruning for r, s in settings.items() if s.pruning.name != "full"}
    assert {(p.warmup_epochs, p.anneal) for r, p in pruned.items() if p.name != "infobatch"} == {(1, 0.0)}
    assert {p.keep for r, p in pruned.items() if r.endswith("0.7") or "0.7x" in r} == {0.7}
    epochs = {s.loop.epochs for s in settings.values()}
    assert len(epochs) == 1                                                   # and the same number of epochs
