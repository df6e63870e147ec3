"""compare: join, regressions beyond the threshold by direction, noise not flagged, added/removed, CLI exit code."""
import math

import pytest

from benchmarks.cli import main
from benchmarks.compare import compare_files, compare_records, infer_direction, render_comparison
from core.training.results import ResultsWriter


def rec(app, variant, metric, value, unit="", **kw):
    return {"suite": "quick", "app": app, "variant": variant, "metric": metric, "value": value, "unit": unit, **kw}


def write(path, rows):
    w = ResultsWriter(path)
    for r in rows:
        r = dict(r)
        w.write(r.pop("app"), r.pop("variant"), r.pop("metric"), r.pop("value"), r.pop("unit"), **r)
    return path


OLD = [rec("sparse", "cnn", "step_time", 1.00, "s"), rec("sparse", "cnn", "accuracy", 0.90),
       rec("asr", "pruned", "wer", 0.20), rec("asr", "pruned", "speed", 100.0, "utt/s"),
       rec("spa", "pagerank", "query", 2.0, target=">= 1"), rec("gone", "x", "m", 1.0, "s")]
NEW = [rec("sparse", "cnn", "step_time", 1.02, "s"),   # +2%: noise
       rec("sparse", "cnn", "accuracy", 0.80),         # -11% on a higher-is-better metric: regression
       rec("asr", "pruned", "wer", 0.15),              # -25% on a lower-is-better metric: improvement
       rec("asr", "pruned", "speed", 80.0, "utt/s"),   # rate down 20%: regression
       rec("spa", "pagerank", "query", 1.5, target=">= 1"),  # direction from the target: regression
       rec("new", "y", "m", 3.0)]


def test_regressions_noise_added_removed():
    cmp = compare_records(OLD, NEW, threshold=0.05)
    verdict = {r.label: r.verdict for r in cmp.rows}
    assert verdict["sparse / cnn / step_time"] == "~"
    assert verdict["sparse / cnn / accuracy"] == "regression"
    assert verdict["asr / pruned / wer"] == "improvement"
    assert verdict["asr / pruned / speed"] == "regression"
    assert verdict["spa / pagerank / query"] == "regression"
    assert [r.label for r in cmp.added] == ["new / y / m"] and [r.label for r in cmp.removed] == ["gone / x / m"]
    acc = next(r for r in cmp.rows if r.label == "sparse / cnn / accuracy")
    assert acc.change == pytest.approx(-0.1 / 0.9)
    # a looser threshold turns the 2% change and the 11% drop into noise
    loose = compare_records(OLD, NEW, threshold=0.15)
    assert {r.label for r in loose.regressions} == {"asr / pruned / speed", "spa / pagerank / query"}


def test_repeated_keys_match_in_order_and_unknown_direction():
    old = [rec("a", "scaling", "t", 1.0, "s"), rec("a", "scaling", "t", 2.0, "s"), rec("a", "v", "score", 1.0)]
    new = [rec("a", "scaling", "t", 1.0, "s"), rec("a", "scaling", "t", 3.0, "s"), rec("a", "v", "score", 2.0)]
    cmp = compare_records(old, new)
    assert [r.verdict for r in cmp.rows] == ["~", "regression", "changed"]
    assert cmp.rows[1].label == "a / scaling / t #2"  # no extra key tells them apart
    sized = compare_records([dict(r, items=n) for r, n in zip(old, (10, 100, 5))],
                            [dict(r, items=n) for r, n in zip(new, (10, 100, 5))])
    assert [r.label for r in sized.rows[:2]] == ["a / scaling / t [items=10]", "a / scaling / t [items=100]"]


def test_failed_module_zero_and_missing_values():
    old = [rec("a", "(module)", "wall_time", 5.0, "s", kind="module", status="ok"),
           rec("a", "v", "t", 0.0, "s"), rec("a", "v", "acc", 0.9)]
    new = [rec("a", "(module)", "wall_time", 1.0, "s", kind="module", status="failed", error="Boom"),
           rec("a", "v", "t", 1.0, "s"), rec("a", "v", "acc", None)]
    cmp = compare_records(old, new)
    assert [r.verdict for r in cmp.rows] == ["regression", "regression", "regression"]
    assert "Boom" in cmp.rows[0].note and math.isinf(cmp.rows[1].change)


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


def test_files_render_and_cli_exit_codes(tmp_path, capsys):
    old, new = write(tmp_path / "old.jsonl", OLD), write(tmp_path / "new.jsonl", NEW)
    cmp = compare_files(old, new)
    md = render_comparison(cmp)
    assert "3 regression(s), 1 improvement(s), 1 added, 1 removed" in md
    assert "| quick | sparse / cnn / accuracy | 0.9 | 0.8 |  | -11.1% | higher | **REGRESSION** |" in md
    assert "~ (noise)" in md and "- quick: gone / x / m = 1 s" in md
    assert "~ (noise)" not in render_comparison(cmp, changed_only=True)
    assert main(["bench", "compare", str(old), str(new)]) == 0
    assert main(["bench", "compare", str(old), str(new), "--fail-on-regression"]) == 1
    assert main(["bench", "compare", str(old), str(old), "--fail-on-regression"]) == 0
    capsys.readouterr()
    assert main(["bench", "compare", str(old), str(tmp_path / "missing.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err


def test_run_folders_and_different_suites(tmp_path):
    (tmp_path / "a").mkdir()
    write(tmp_path / "a" / "results.jsonl", OLD)
    smoke = [dict(r, suite="smoke") for r in OLD]
    write(tmp_path / "b.jsonl", smoke)
    cmp = compare_files(tmp_path / "a", tmp_path / "b.jsonl")
    assert len(cmp.added) == len(cmp.removed) == len(OLD) and not cmp.regressions
    assert "No row in common: OLD has suite(s) quick, NEW has smoke" in render_comparison(cmp)
