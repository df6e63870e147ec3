"""Experiments are configs: every experiment composes, every set loads with its declared hand-over, and the
report computes paired figures and verdicts from run summaries."""
import json
from pathlib import Path

import pytest

import apps.msrs
from apps.msrs.report import judgements, load_runs, main as report_main, snr_table, steps_to_reach, summarize
from core.training.experiments import load_set

CONFIGS = Path(apps.msrs.__file__).parent / "configs"


def test_every_experiment_composes_and_sets_declare_their_hand_over():
    from apps.common.hydra_config import compose
    from apps.msrs.recipe import settings_from_config

    methods = {}
    for f in sorted((CONFIGS / "experiment").glob("*.yaml")):
        methods[f.stem] = settings_from_config(compose("msrs", ["preset=grid_cpu", f"experiment={f.stem}"])).method
    assert methods == {**{m: m for m in ("curriculum", "dense", "msrs_d", "msrs_s", "rigl", "set", "static")},
                       "msrs_s_erk": "msrs_s"}
    for f in sorted((CONFIGS / "sets").glob("*.yaml")):
        cs = load_set(f)
        assert cs.entry == "apps.msrs.train"
        for name, spec in cs.runs.items():
            # every run composes and every key is read (the hand-over values come from the run it needs)
            s = settings_from_config(compose("msrs", [*cs.common, *spec.overrides]))
            if s.method in ("static", "set", "rigl"):
                if s.sparse.init == "given":     # MSRS-S's learned per-layer densities: same allocation
                    assert spec.needs == {"msrs_s": {"sparse.layer_densities": "layer_densities_list"}}, (f.name, name)
                else:                            # ERK at an MSRS-S run's overall density
                    (dep, keys), = spec.needs.items()
                    assert keys == {"sparse.density": "density"} and dep.startswith("msrs_s"), (f.name, name)
                for dep in spec.needs:
                    assert cs.order().index(dep) < cs.order().index(name)
    assert len(load_set(CONFIGS / "sets" / "grid_long_vsr.yaml").seeds) >= 5


def test_a_learned_allocation_is_handed_over_as_an_override():
    """The set driver writes `key=<summary value>`: MSRS-S's list of per-layer densities must parse as one."""
    from apps.common.hydra_config import compose
    from apps.msrs.recipe import settings_from_config

    dens = [0.31, 0.2, 1.0, 0.054321]
    s = settings_from_config(compose("msrs", ["preset=grid_cpu", "experiment=static", "sparse.init=given",
                                              "sparse.density=null", f"sparse.layer_densities={dens}"]))
    assert s.sparse.layer_densities == tuple(dens) and s.sparse.density is None


def _summary(val, test, cpu, **kw):
    return {"status": "finished", "steps": 100, "train_cpu_s": cpu, "density": kw.pop("density", 1.0),
            "val": [{"step": s, "train_cpu_s": c, "wer": w} for s, c, w in val], "test_wer": {"clean": test},
            "grad_norms": [], **kw}


def test_report_pairs_seeds_and_judges(tmp_path):
    runs = {
        "dense": {0: _summary([(50, 10, 0.6), (100, 20, 0.3)], 0.31, 20),
                  1: _summary([(50, 10, 0.5), (100, 20, 0.2)], 0.22, 20)},
        "msrs_d": {0: _summary([(50, 8, 0.3), (100, 16, 0.2)], 0.2, 16, stable_step=10, switch_step=10,
                               switch_forced=False, mask_density_at_switch=0.4),
                   1: _summary([(50, 8, 0.4), (100, 16, 0.2)], 0.21, 16, stable_step=None, switch_step=30,
                               switch_forced=True, mask_density_at_switch=0.5)},
        "msrs_s": {0: _summary([(50, 8, 0.4), (100, 16, 0.25)], 0.21, 16, density=0.4, stable_step=10,
                               switch_step=10, switch_forced=False)},
    }
    for name, by in runs.items():
        for s, summ in by.items():
            (tmp_path / name / f"seed{s}").mkdir(parents=True)
            (tmp_path / name / f"seed{s}" / "summary.json").write_text(json.dumps(summ))
    assert steps_to_reach(runs["dense"][0]["val"], 0.3) == (100, 20)
    loaded = load_runs(tmp_path)
    assert sorted(loaded) == ["dense", "msrs_d", "msrs_s"] and sorted(loaded["msrs_d"]) == [0, 1]
    res = summarize(loaded)
    m = res["runs"]["msrs_d"]
    # in steps: seed 0 reaches dense's 0.3 at step 50 (dense: 100) -> 0.5, seed 1 reaches 0.2 at step 100 -> 1.0
    assert m["steps_ratio_to_baseline"]["values"] == pytest.approx([0.5, 1.0])
    assert m["steps_ratio_to_baseline"]["mean"] == pytest.approx(0.75) and m["steps_ratio_to_baseline"]["hi"] > 1
    assert m["stable_fraction"]["n"] == 1 and m["forced"] == [False, True]
    v = {x["target"]: x["verdict"] for x in res["verdicts"]}
    # two seeds: the t interval of 0.31, 0.22 (t = 12.7) straddles 0.40
    assert v["dense converges with test WER <= 0.40"] == "within noise (2 seeds: indicative)"
    label = "{}: steps to dense's final val WER <= 0.5x dense (paired ratio; a seed that never reaches it counts its whole run)"
    assert v[label.format("msrs_d")] == "within noise (2 seeds: indicative)"                  # 0.5, 1.0
    assert v["msrs_d: mask stable within the first 20 % without forcing"] == \
        "not judged (switch forced in 1 seed(s))"
    # paired on seed 0 only: 0.21 / 0.20 - 1 = +5 % at 60 % sparsity
    assert v["MSRS-S sparsity >= 50 %"] == "met (1 seed: indicative)"
    assert v["MSRS-S test WER at most 10 % above MSRS-D's (paired ratio <= 1.1)"] == "met (1 seed: indicative)"
    assert v["MSRS-D test WER below dense's (paired ratio < 1)"] == "within noise (2 seeds: indicative)"
    # the suite records the same figures from the same list, so its verdicts are the report's
    from benchmarks.context import BenchContext
    from benchmarks.suites.msrs import NAME
    from core.training import ResultsWriter, read_results

    ctx = BenchContext(suite="standard", device="cpu", seed=0, out_dir=tmp_path / "b",
                       writer=ResultsWriter(tmp_path / "b" / "r.jsonl"), verbose=False, app=NAME, module=NAME)
    for j in judgements(loaded):
        ctx.record_seeds(f"set:{j['variant']}", j["metric"], j["values"], baseline=j["baseline"], target=j["target"],
                         unit=j["unit"], not_judged=j["not_judged"] if j["target"] else None)
    suite = {r["metric"] + ":" + r["variant"].split(":")[1]: r for r in read_results(tmp_path / "b" / "r.jsonl")
             if r.get("verdict")}
    mine = {x["metric"] + ":" + x["variant"]: x for x in res["verdicts"]}
    assert sorted(suite) == sorted(mine) and len(mine) == 8
    for k, x in mine.items():
        assert x["verdict"].split(" (")[0] == suite[k]["verdict"], k
        if suite[k]["verdict"] != "not judged":
            assert x["interval"] == pytest.approx(suite[k]["interval"])
    assert report_main([str(tmp_path)]) == 0 and "msrs_d" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["runs"]["msrs_d"]["seeds"] == [0, 1]
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        load_runs(tmp_path / "empty")


def test_a_seed_that_never_reaches_dense_counts_its_whole_run():
    # judged in steps: dense reaches its final 0.3 at step 100 in every seed
    dense = {k: _summary([(50, 10, 0.5), (100, 20, 0.3)], 0.3, 20) for k in range(3)}
    slow = {0: _summary([(50, 10, 0.6), (100, 20, 0.4)], 0.4, 20),          # never reaches 0.3: >= 100 / 100
            1: _summary([(50, 11, 0.35), (100, 22, 0.3)], 0.3, 22),         # 100 / 100
            2: _summary([(50, 4, 0.35), (100, 8, 0.3)], 0.3, 8)}            # 100 / 100 (fewer CPU s: not judged)
    label = "msrs_d: steps to dense's final val WER <= 0.5x dense (paired ratio; a seed that never reaches it counts its whole run)"
    v = {x["target"]: x for x in summarize({"dense": dense, "msrs_d": slow})["verdicts"]}
    assert v[label]["compared"] == pytest.approx(1.0) and v[label]["verdict"] == "missed"
    assert "never reached in 1" in v[label]["value"]
    # a "met" that rests on a lower bound is not judged: runs of 20 steps, two reach 0.3 at step 10 (0.1), the
    # third never does and counts its 20 steps (0.2, a lower bound)
    fast = {k: _summary([(10, 1, 0.3), (20, 2, 0.3)], 0.3, 2) | {"steps": 20} for k in range(2)}
    fast[2] = _summary([(10, 1, 0.5), (20, 2, 0.45)], 0.45, 2) | {"steps": 20}
    v = {x["target"]: x for x in summarize({"dense": dense, "msrs_d": fast})["verdicts"]}
    assert v[label]["verdict"].startswith("not judged (never reached in 1 seed(s)")


def test_a_much_better_msrs_s_meets_the_at_most_10_percent_worse_target():
    # the target is one-sided: MSRS-S 30 % better than MSRS-D in every seed meets it (a two-sided "within 10 %"
    # would call it missed); 30 % worse misses it
    run = lambda w: _summary([(50, 10, 0.5), (100, 20, 0.3)], w, 20, density=0.3)
    d = {k: run(w) for k, w in enumerate([0.50, 0.60, 0.55])}
    label = "MSRS-S test WER at most 10 % above MSRS-D's (paired ratio <= 1.1)"
    better = {k: run(0.7 * d[k]["test_wer"]["clean"] + 0.001 * k) for k in d}
    worse = {k: run(1.3 * d[k]["test_wer"]["clean"] + 0.001 * k) for k in d}
    assert {x["target"]: x["verdict"] for x in summarize({"msrs_d": d, "msrs_s": better})["verdicts"]}[label] == "met"
    assert {x["target"]: x["verdict"] for x in summarize({"msrs_d": d, "msrs_s": worse})["verdicts"]}[label] == "missed"


def _avsr(test_wer, cpu=20):
    return _summary([(50, 10, 0.5), (100, 20, 0.3)], test_wer["clean"], cpu) | {"test_wer": test_wer}


def test_report_judges_avsr_against_asr_in_noise_paired_by_seed():
    # AVSR (dense) against ASR dense per seed: better at 0 dB on every seed, mixed at -5 dB
    runs = {"dense": {0: _avsr({"clean": 0.30, "0": 0.40, "-5": 0.50}), 1: _avsr({"clean": 0.30, "0": 0.42, "-5": 0.70}),
                      2: _avsr({"clean": 0.30, "0": 0.41, "-5": 0.52})},
            "asr_dense": {0: _avsr({"clean": 0.20, "0": 0.60, "-5": 0.60}), 1: _avsr({"clean": 0.20, "0": 0.65, "-5": 0.55}),
                          2: _avsr({"clean": 0.20, "0": 0.62, "-5": 0.58})}}
    v = {x["target"]: x for x in summarize(runs)["verdicts"]}
    label = "AVSR beats ASR at {} dB babble (test WER AVSR / ASR < 1, paired ratio)"
    zero, minus5 = v[label.format(0)], v[label.format(-5)]
    # per-seed ratios 0.667, 0.646, 0.661: the whole interval below 1
    assert zero["verdict"] == "met" and zero["compared"] == pytest.approx((0.4 / 0.6 + 0.42 / 0.65 + 0.41 / 0.62) / 3)
    assert zero["interval"][1] < 1
    assert minus5["verdict"] == "within noise"                  # 0.83, 1.27, 0.90
    rows = snr_table(summarize(runs))                           # the report's per-SNR table, clean first
    assert rows[2] == "| run | clean | 0 dB | -5 dB |"
    assert rows[4].startswith("| dense | 0.300 [0.300, 0.300] | 0.410 [0.385, 0.435] | 0.573 [0.300, 0.847] |")
    assert snr_table({"runs": {"dense": {"test_wer@clean": {"mean": 0.3, "lo": 0.3, "hi": 0.3, "n": 3}}}}) == []
    runs["asr_dense"] = {0: _avsr({"clean": 0.2, "0": 0.3, "-5": 0.4})}   # one seed in common, AVSR worse
    v = {x["target"]: x["verdict"] for x in summarize(runs)["verdicts"]}
    assert v[label.format(0)] == "missed (1 seed: indicative)"
    del runs["asr_dense"]
    assert not any("AVSR" in x["target"] for x in summarize(runs)["verdicts"])
    # a baseline that has not learned: comparisons with it are not judged
    runs["asr_dense"] = {k: _avsr({"clean": 0.2, "0": 0.6, "-5": 0.6}) for k in range(3)}
    for r in runs["dense"].values():
        r["val"][-1]["wer"] = 0.95
    v = {x["target"]: x["verdict"] for x in summarize(runs)["verdicts"]}
    assert v[label.format(0)].startswith("not judged (dense has not learned (final val WER 0.95")


def test_equal_allocation_pairs_tell_selection_from_allocation():
    """MSRS-S against static / SET / RigL at its own per-layer densities (selection), MSRS-S against MSRS-S-ERK
    (allocation): paired ratios with their intervals, lower-in-k-of-n counted."""
    def run(w):
        return {k: _summary([(50, 10, 0.5), (100, 20, 0.3)], w + 0.01 * k, 20, density=0.3) for k in range(5)}
    runs = {"dense": run(0.30), "msrs_s": run(0.40), "static": run(0.30), "set": run(0.28), "rigl": run(0.41),
            "msrs_s_erk": run(0.35), "static_erk": run(0.33)}
    v = {x["target"].split(" (")[0]: x for x in summarize(runs)["verdicts"]}
    assert v["msrs_s test WER below static's"]["verdict"] == "missed"
    assert "lower in 0 of 5" in v["msrs_s test WER below static's"]["value"]
    assert v["msrs_s test WER below msrs_s_erk's"]["verdict"] == "missed"
    assert v["static test WER below static_erk's"]["verdict"] == "met"
    assert v["msrs_s test WER below rigl's"]["verdict"] == "met"


def test_the_table_shows_seed_counts_steps_cost_and_no_interval_for_one_seed():
    from apps.msrs.report import render

    runs = {"dense": {0: _summary([(50, 10, 0.6), (100, 20, 0.3)], 0.31, 20),
                      1: _summary([(50, 10, 0.5), (100, 20, 0.2)], 0.22, 24)},
            "msrs_s": {0: _summary([(50, 8, 0.4), (100, 16, 0.25)], 0.21, 16, density=0.4, stable_step=10,
                                   switch_step=10, switch_forced=False)},
            "curriculum": {1: _summary([(50, 8, 0.4), (100, 16, 0.25)], 0.19, 18),
                           2: _summary([(50, 8, 0.4), (100, 16, 0.25)], 0.18, 18)}}
    text = render(summarize(runs))
    table = text.split("\n\n")[1]                                              # the run table
    rows = {r.split(" | ")[0][2:]: r.split(" | ") for r in table.splitlines() if r.startswith("| ")}
    head = rows["run"]
    dense, msrs_s, cur = rows["dense"], rows["msrs_s"], rows["curriculum"]
    assert dense[head.index("seeds")] == "2: [0, 1]" and dense[head.index("steps")] == "100"
    assert dense[head.index("training CPU s")].startswith("22.000 [")           # mean of 20 and 24, with its interval
    # one seed: a value, not a zero-width "interval"
    assert msrs_s[head.index("test WER clean")] == "0.210 (n=1)" and msrs_s[-1] == "0.400 (n=1) |"
    # paired with dense over the one seed both have: the count says so
    assert cur[head.index("minus dense (paired)")] == "-0.030 (n=1)"
    assert "| dense | 0.310 | 0.220 | - |" in text and "| curriculum | - | 0.190 | 0.180 |" in text


def test_msrs_s_sparsity_is_judged_on_every_msrs_s_seed_not_only_those_msrs_d_has():
    dense = {k: _summary([(50, 10, 0.5), (100, 20, 0.3)], 0.3, 20) for k in range(3)}
    msrs_d = {0: _summary([(50, 10, 0.5), (100, 20, 0.3)], 0.3, 20, stable_step=10, switch_step=10)}
    msrs_s = {k: _summary([(50, 10, 0.5), (100, 20, 0.3)], 0.3, 20, density=0.4, stable_step=10, switch_step=10)
              for k in range(3)}
    j = {x["metric"]: x for x in judgements({"dense": dense, "msrs_d": msrs_d, "msrs_s": msrs_s})
         if x["variant"] == "msrs_s"}
    assert sorted(j["sparsity"]["values"]) == [0, 1, 2]
    assert sorted(j["test_wer_vs_msrs_d"]["values"]) == [0]          # the paired ratio: the seeds both have
