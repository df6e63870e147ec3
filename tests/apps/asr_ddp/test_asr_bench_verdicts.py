"""The asr_ddp benchmark's verdicts and tables from finished runs' summaries (nothing is trained)."""
import pytest

from benchmarks.suites import asr_ddp as suite


def _runs(wers, cpu):
    return {s: {"test_wer": w, "train_cpu_s": c} for s, (w, c) in enumerate(zip(wers, cpu))}


def test_verdicts_paired_by_seed():
    res = {"full": _runs([0.10, 0.12, 0.11], [100, 100, 100]),
           "dynamic_random0.7": _runs([0.101, 0.121, 0.111], [70, 70, 70]),      # within 5 % on every seed
           "static_random0.7": _runs([0.13, 0.15, 0.14], [70, 70, 70]),
           "dynamic_random0.7x0.7chunk": _runs([0.30, 0.36, 0.33], [45, 46, 47]),
           "dynamic_random0.5": _runs([0.20, 0.25, 0.22], [50, 50, 50])}
    out = {t.split(" (")[0].split(" test")[0]: (m, v) for t, m, v in suite.verdicts(res)}
    assert out["best 0.7 instance policy"][1] == "met"                     # dynamic is the best of the two
    assert out["dynamic / static 0.7"][1] == "met"
    speed = next(v for t, m, v in suite.verdicts(res) if "speed-up" in t)
    assert speed == "met"                                                    # 100 / ~46 >= 1.5 on every seed
    assert next(v for t, m, v in suite.verdicts(res) if t.startswith("0.7 x 0.7") and "WER" in t) == "missed"
    assert out["dynamic 0.5 / dynamic 0.7"][1] == "met"
    two = {k: {s: r for s, r in v.items() if s < 2} for k, v in res.items()}
    assert all("indicative: 2 seeds" in v for _, _, v in suite.verdicts(two))
    # a held-out speaker that full data cannot read (81% WER): the same ratios say nothing
    lost = {k: {s: dict(r, test_wer=0.7 + r["test_wer"]) for s, r in v.items()} for k, v in res.items()}
    assert all(v == "not judged: full data has not learned (test WER 81%)" for _, _, v in suite.verdicts(lost))


def test_tables_markdown_has_the_run_table_and_the_verdicts():
    res = {"full": _runs([0.10, 0.12], [100, 100]), "dynamic_random0.7": _runs([0.11, 0.13], [70, 70])}
    table = {"full": {"seeds": [0, 1], "test_wer": (0.11, 0.014), "test_wer_per_seed": [0.10, 0.12],
                      "train_cpu_s": (100, 0), "steps": (700, 0),
                      "audio_fraction": (1.0, 0)},
             "dynamic_random0.7": {"seeds": [0, 1], "test_wer": (0.12, 0.014), "test_wer_per_seed": [0.11, 0.13],
                                   "rel_wer_vs_full": (0.09, 0.01),
                                   "train_cpu_s": (70, 0), "steps": (500, 0), "audio_fraction": (0.7, 0)}}
    md = suite.tables(res, table)
    assert md.splitlines()[2].startswith("| full | 2 | 11.00 | 10.0 / 12.0 |")      # two seeds: no interval shown
    assert "| dynamic_random0.7 | 2 | 12.00 | 11.0 / 13.0 | +9.0% |" in md
    assert "| target | measured" in md and "best 0.7 instance policy (dynamic_random0.7)" in md


def _timed(wers, unit, ms, keep=0.7):
    return {s: {"test_wer": w, "fingerprint": {"pruning.time_keep": keep, "pruning.time_unit": unit,
                                               "pruning.chunk_ms": ms}} for s, w in enumerate(wers)}


def test_chunk_sweep_groups_runs_by_unit_and_length_and_is_plotted(tmp_path):
    from apps.asr_ddp.plots import chunk_sweep, plot_chunk_sweep

    res = {"full": _timed([0.10, 0.12], "chunk", 200, keep=1.0),            # not time-pruned: the baseline line
           "dynamic_random0.7x0.7chunk": _timed([0.12, 0.14], "chunk", 200),
           "dynamic_random0.7x0.7chunk50ms": _timed([0.20, 0.22], "chunk", 50),
           "dynamic_random0.7x0.7aligned": _timed([0.13, 0.15], "chunk_aligned", 200),   # one length: no sweep
           "dynamic_random0.7x0.7point": _timed([0.3, 0.3], "point", 10)}
    sweep = chunk_sweep(res)
    assert sweep == {"chunk": {50: [0.20, 0.22], 200: [0.12, 0.14]}}
    assert list(sweep["chunk"]) == [50, 200]                                    # ordered by length for the plot
    path = plot_chunk_sweep(res, tmp_path / "sweep.png")
    assert path.stat().st_size > 1000
    del res["dynamic_random0.7x0.7chunk50ms"]
    assert plot_chunk_sweep(res, tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_one_seed_rows_show_no_interval_and_say_which_rows_competed():
    res = {"full": _runs([0.10, 0.12, 0.11, 0.10, 0.12], [100] * 5),
           "dynamic_random0.7": _runs([0.11, 0.12, 0.11, 0.11, 0.12], [70] * 5),
           "static_random0.7": _runs([0.09], [70]),                          # better, but one seed: not the "best"
           "ucb0.7": {0: {"test_wer": 0.12, "train_cpu_s": 70,
                          "decorrelation": {"spearman_position_score": -0.117, "kept_fraction": 0.7,
                                            "kept_by_quarter": [0.72, 0.73, 0.75, 0.60]}}}}
    v = {t: (m, x) for t, m, x in suite.verdicts(res)}
    best = next(t for t in v if t.startswith("best 0.7"))
    assert "(dynamic_random0.7; of the 5-seed rows)" in best and v[best][0].endswith("n=5")
    m, x = v["dynamic / static 0.7 test WER < 1.0"]
    assert m.endswith("n=1 (no interval)") and "[" not in m and x.endswith("(indicative: 1 seed)")
    rho = next(k for k in v if k.startswith("ucb0.7: abs Spearman"))
    assert v[rho] == ("0.117, n=1 (no interval)", "missed (indicative: 1 seed)")
    quarter = next(k for k in v if k.startswith("ucb0.7: max abs"))
    assert v[quarter][0].startswith("0.100") and v[quarter][1].startswith("missed")
    assert all("|" not in t for t in v)                                      # a markdown cell stays one cell
