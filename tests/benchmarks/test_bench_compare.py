"""compare as a gate: ratios where there is a baseline, noise bands of both runs, module transitions,
empty / crashed / interrupted NEW runs, malformed input named with file and line, CLI exit codes."""
import json
import math

import pytest

from benchmarks.cli import main
from benchmarks.compare import band, compare_files, compare_records, infer_direction, render_comparison
from core.training.results import ResultsWriter


def rec(app, variant, metric, value, unit="", **kw):
    return {"suite": "quick", "app": app, "variant": variant, "metric": metric, "value": value, "unit": unit, **kw}


def module(app, status="ok", wall=5.0, **kw):
    return rec(app, "(module)", "wall_time", wall, "s", kind="module", status=status, module=app, **kw)


END = rec("(suite)", "(all modules)", "wall_time", 10.0, "s", kind="suite", status="complete")


def timing(app, ratio, lo, hi, value=1.0):
    """A compare_timing record: ratio with its (noise-widened) interval."""
    return rec(app, "engine", "time", value, "s", baseline=value / ratio, ratio=ratio, interval=[lo, hi],
               judged_on="median paired ratio", noise_floor=1.0, higher_is_better=False, target="<= 1.05")


def write(path, rows):
    w = ResultsWriter(path)
    for r in rows:
        r = dict(r)
        w.write(r.pop("app"), r.pop("variant"), r.pop("metric"), r.pop("value"), r.pop("unit"), **r)
    return path


def verdicts(cmp):
    return {r.label: r.verdict for r in cmp.rows}


def test_ratio_is_compared_not_the_raw_time():
    # the machine got 3x slower between the runs: raw times tripled, the in-run ratio did not move
    old = [module("core"), timing("core", 1.01, 0.99, 1.03, value=0.010), END]
    new = [module("core"), timing("core", 1.02, 1.00, 1.04, value=0.030), END]
    cmp = compare_records(old, new)
    row = next(r for r in cmp.rows if r.key[2] == "engine")
    assert row.on == "ratio" and row.verdict == "~" and row.change == pytest.approx(0.01 / 1.01)
    assert not cmp.failed


def test_regression_only_outside_both_bands():
    old = [timing("core", 1.00, 0.98, 1.02)]
    wide = [timing("core", 1.10, 0.95, 1.25)]       # 10% worse, but the new band reaches the old ratio
    assert verdicts(compare_records(old, wide, threshold=0.01))["core / engine / time"] == "~"
    slow = [timing("core", 1.30, 1.25, 1.35)]        # outside both bands, the wrong way
    assert verdicts(compare_records(old, slow, threshold=0.01))["core / engine / time"] == "regression"
    fast = [timing("core", 0.80, 0.78, 0.82)]
    assert verdicts(compare_records(old, fast, threshold=0.01))["core / engine / time"] == "improvement"
    # the --threshold is the narrowest band: a 4% move with tight intervals is noise at 5%
    tight_new = [timing("core", 1.04, 1.039, 1.041)]
    assert verdicts(compare_records([timing("core", 1.0, 0.999, 1.001)], tight_new))["core / engine / time"] == "~"


def test_timings_from_too_few_rounds_are_not_gated():
    old = [dict(timing("core", 1.00, 0.98, 1.02), interval_coverage=0.5, rounds=2), END]
    new = [dict(timing("core", 1.60, 1.55, 1.65), interval_coverage=0.5, rounds=2), END]
    cmp = compare_records(old, new)
    assert not cmp.failed and cmp.rows[0].verdict == "changed" and "too few timing rounds" in cmp.rows[0].note
    enough = compare_records([dict(old[0], interval_coverage=0.98)], [dict(new[0], interval_coverage=0.98)])
    assert enough.rows[0].verdict == "regression"


def test_seed_spread_is_the_band_of_a_mean():
    old = [rec("app", "dense", "dice", 0.80, n_seeds=3, std=0.05, higher_is_better=True)]
    new = [rec("app", "dense", "dice", 0.75, n_seeds=3, std=0.05, higher_is_better=True)]
    assert band(old[0], 0.80, "value", 0.0)[0] < 0.75  # t * s / sqrt(n) = 4.303 * 0.05 / 1.73 = 0.124
    assert verdicts(compare_records(old, new))["app / dense / dice"] == "~"
    low = [rec("app", "dense", "dice", 0.40, n_seeds=3, std=0.05, higher_is_better=True)]
    assert verdicts(compare_records(old, low))["app / dense / dice"] == "regression"


def test_median_of_samples_interval_is_the_band():
    """A ctx.record_samples figure (no baseline) is gated on its median interval."""
    def share(v, lo, hi):
        return rec("app", "engine", "share", v, "x", interval=[lo, hi], judged_on="median of 15 samples",
                   interval_coverage=0.96, higher_is_better=False, target="<= 1.02")

    old = [share(1.004, 1.003, 1.006)]
    assert band(old[0], 1.004, "value", 0.0) == (1.003, 1.006)
    assert verdicts(compare_records(old, [share(1.005, 1.004, 1.007)], threshold=0.0))["app / engine / share"] == "~"
    assert verdicts(compare_records(old, [share(1.030, 1.028, 1.033)], threshold=0.0))["app / engine / share"] == "regression"


def test_times_from_separate_runs_are_not_gated_even_over_seeds():
    """A query time over seeds of a deterministic selector (std 0) and a train-time ratio of two separately run
    methods both follow the machine's load: shown as changed, never a regression."""
    q_old = [rec("spa", "ranked", "query_time", 0.08, "s", n_seeds=2, std=0.0, higher_is_better=False)]
    q_new = [rec("spa", "ranked", "query_time", 0.14, "s", n_seeds=2, std=0.0, higher_is_better=False)]
    assert verdicts(compare_records(q_old, q_new))["spa / ranked / query_time"] == "changed"
    t_old = [rec("e2e", "dense vs dyn", "train_time", 60.0, "s", baseline=60.0, ratio=1.0, n_seeds=1,
                 judged_on=None, higher_is_better=False)]
    t_new = [rec("e2e", "dense vs dyn", "train_time", 68.0, "s", baseline=60.0, ratio=1.13, n_seeds=1,
                 judged_on=None, higher_is_better=False)]
    cmp = compare_records(t_old, t_new)
    assert verdicts(cmp)["e2e / dense vs dyn / train_time"] == "changed" and not cmp.regressions
    assert "not gated" in cmp.rows[0].note


def test_point_values_use_the_threshold_and_absolute_times_are_not_gated():
    old = [rec("a", "v", "accuracy", 0.90), rec("a", "scaling", "update_time", 1.0, "s", items=10),
           rec("a", "v", "wer", 0.20)]
    new = [rec("a", "v", "accuracy", 0.80), rec("a", "scaling", "update_time", 3.0, "s", items=10),
           rec("a", "v", "wer", 0.15)]
    v = verdicts(compare_records(old, new))
    assert v["a / v / accuracy"] == "regression" and v["a / v / wer"] == "improvement"
    assert v["a / scaling / update_time"] == "changed"   # tripled with the load: shown, never a regression


def test_module_transitions_and_missing_modules():
    old = [module("a", "ok"), module("b", "failed", error="Boom"), module("c", "ok"), module("d", "ok"), END]
    new = [module("a", "failed", error="RuntimeError: x"), module("b", "ok"), module("c", "interrupted"), END]
    cmp = compare_records(old, new)
    v = verdicts(cmp)
    assert v["a / (module) / wall_time"] == "regression" and "RuntimeError: x" in next(
        r.note for r in cmp.rows if r.label == "a / (module) / wall_time")
    assert v["b / (module) / wall_time"] == "fixed"                     # failed -> ok is a fix, never a regression
    assert v["c / (module) / wall_time"] == "regression"
    assert v["d / (module) / wall_time"] == "regression"                # missing in NEW
    assert len(cmp.regressions) == 3 and len(cmp.fixes) == 1
    # a module whose wall time doubled (load) is not a regression
    slow = compare_records([module("a", wall=5.0), END], [module("a", wall=10.0), END])
    assert not slow.failed and verdicts(slow)["a / (module) / wall_time"] == "info"


@pytest.mark.parametrize("new, why", [
    ([], "NEW run is empty"),
    ([module("a")], "no end-of-run record"),
    ([module("a"), dict(END, status="interrupted")], "interrupted"),
])
def test_bad_new_runs_fail_the_gate(new, why):
    cmp = compare_records([module("a"), END], new)
    assert cmp.failed and any(why in g for g in cmp.gate_failures)
    assert "GATE FAILURE" in render_comparison(cmp)


def test_repeated_keys_match_in_order_and_unknown_direction():
    old = [rec("a", "scaling", "n", 1.0), rec("a", "scaling", "n", 2.0), rec("a", "v", "score", 1.0)]
    new = [rec("a", "scaling", "n", 1.0), rec("a", "scaling", "n", 3.0), rec("a", "v", "score", 2.0)]
    cmp = compare_records(old, new)
    assert [r.verdict for r in cmp.rows] == ["~", "changed", "changed"]
    assert cmp.rows[1].label == "a / scaling / n #2"  # no extra key tells them apart
    sized = compare_records([dict(r, items=n) for r, n in zip(old, (10, 100, 5))],
                            [dict(r, items=n) for r, n in zip(new, (10, 100, 5))])
    assert [r.label for r in sized.rows[:2]] == ["a / scaling / n [items=10]", "a / scaling / n [items=100]"]


def test_zero_and_missing_values():
    cmp = compare_records([rec("a", "v", "loss", 0.0), rec("a", "v", "acc", 0.9)],
                          [rec("a", "v", "loss", 1.0), rec("a", "v", "acc", None)])
    assert [r.verdict for r in cmp.rows] == ["regression", "regression"] and math.isinf(cmp.rows[0].change)


def test_infer_direction_order():
    assert infer_direction({"higher_is_better": False, "metric": "accuracy"}) is False
    assert infer_direction({"target": ">= 2", "unit": "s"}) is True
    assert infer_direction({"unit": "ms", "metric": "x"}) is False
    assert infer_direction({"unit": "items/s", "metric": "x"}) is True
    assert infer_direction({"metric": "val_dice"}) is True
    assert infer_direction({"metric": "test_wer"}) is False
    assert infer_direction({"metric": "points"}) is None


def test_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        compare_records([], [], threshold=-0.1)


@pytest.mark.parametrize("line, match", [
    ("[1, 2]", "new.jsonl:2: a results line must be a JSON object"),
    ('"text"', "new.jsonl:2: a results line must be a JSON object, got str"),
    ("{broken", "new.jsonl:2: not valid JSON"),
    ('{"app": "a", "variant": "v"}', r"new.jsonl:2: missing or empty field\(s\) metric"),
])
def test_malformed_new_file_is_a_named_error(tmp_path, capsys, line, match):
    old = write(tmp_path / "old.jsonl", [module("a"), END])
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps(module("a")) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=match):
        compare_files(old, new)
    assert main(["bench", "compare", str(old), str(new), "--fail-on-regression"]) == 2
    assert "new.jsonl:2" in capsys.readouterr().err


def test_files_render_and_cli_exit_codes(tmp_path, capsys):
    base = [module("a"), timing("a", 1.0, 0.98, 1.02), rec("a", "v", "accuracy", 0.9), END]
    worse = [module("a"), timing("a", 1.5, 1.45, 1.55), rec("a", "v", "accuracy", 0.9), END]
    old, new = write(tmp_path / "old.jsonl", base), write(tmp_path / "new.jsonl", worse)
    md = render_comparison(compare_files(old, new))
    assert md.startswith("Gate FAILS: 1 regression(s)") and "**REGRESSION**" in md and "| ratio |" in md
    assert main(["bench", "compare", str(old), str(new)]) == 0
    assert main(["bench", "compare", str(old), str(new), "--fail-on-regression"]) == 1
    assert main(["bench", "compare", str(old), str(old), "--fail-on-regression"]) == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["bench", "compare", str(old), str(empty), "--fail-on-regression"]) == 1
    capsys.readouterr()
    assert main(["bench", "compare", str(old), str(tmp_path / "missing.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err


def test_run_folders_and_different_suites(tmp_path):
    rows = [rec("a", "v", "accuracy", 0.9), END]
    (tmp_path / "a").mkdir()
    write(tmp_path / "a" / "results.jsonl", rows)
    write(tmp_path / "b.jsonl", [dict(r, suite="smoke") for r in rows])
    cmp = compare_files(tmp_path / "a", tmp_path / "b.jsonl")
    assert len(cmp.added) == len(cmp.removed) == 2 and not cmp.regressions
    assert "No row in common: OLD has suite(s) quick, NEW has smoke" in render_comparison(cmp)


def test_only_some_apps(tmp_path, capsys):
    old = write(tmp_path / "old.jsonl", [module("a"), module("b"), timing("a", 1.0, 0.98, 1.02), END])
    new = write(tmp_path / "new.jsonl", [module("a"), timing("a", 1.0, 0.98, 1.02), END])   # b did not run
    assert compare_files(old, new).failed                                   # module b missing
    assert not compare_files(old, new, only=["a"]).failed
    assert main(["bench", "compare", str(old), str(new), "--only", "a", "--fail-on-regression"]) == 0
    assert main(["bench", "compare", str(old), str(new), "--only", "zzz"]) == 2
    assert "no such app or module" in capsys.readouterr().err


@pytest.mark.parametrize("old, why", [
    ([], "OLD run is empty"),
    ([module("a")], "OLD run has no end-of-run record"),
    ([module("a"), dict(END, status="interrupted")], "OLD run was interrupted"),
])
def test_bad_old_runs_fail_the_gate(old, why):
    cmp = compare_records(old, [module("a"), END])
    assert cmp.failed and any(why in g for g in cmp.gate_failures)
    assert why in render_comparison(cmp)


def test_an_empty_or_crashed_old_file_fails_the_cli_gate_and_says_why(tmp_path, capsys):
    new = write(tmp_path / "new.jsonl", [module("a"), timing("a", 1.0, 0.98, 1.02), END])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["bench", "compare", str(empty), str(new), "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Gate FAILS") and "OLD run is empty" in out
    crashed = write(tmp_path / "crashed.jsonl", [module("a"), timing("a", 1.0, 0.98, 1.02)])   # no end record
    assert main(["bench", "compare", str(crashed), str(new), "--fail-on-regression"]) == 1
    assert "OLD run has no end-of-run record" in capsys.readouterr().out
    assert main(["bench", "compare", str(new), str(new), "--fail-on-regression"]) == 0
