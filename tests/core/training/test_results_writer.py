"""ResultsWriter: keyed rows (a re-run replaces, repeated keys in one run are kept in order), atomic writes, read errors."""
import json

import pytest

from core.training.results import KEY_FIELDS, RESULT_FIELDS, ResultsWriter, read_results


def test_rerun_replaces_rows_by_key_and_keeps_order(tmp_path):
    path = tmp_path / "results.jsonl"
    w = ResultsWriter(path)
    w.write("app", "dense", "acc", 0.5, suite="quick", seed=0)
    w.write("app", "dense", "acc", 0.6, suite="quick", seed=1)       # another seed: its own row
    w.write("app", "scaling", "time", 1.0, "s", suite="quick", items=10)
    w.write("app", "scaling", "time", 2.0, "s", suite="quick", items=100)  # same key again: a second point
    assert [r["value"] for r in read_results(path)] == [0.5, 0.6, 1.0, 2.0]
    again = ResultsWriter(path)                                        # a re-run of the same figures
    again.write("app", "scaling", "time", 1.5, "s", suite="quick", items=10)
    again.write("app", "dense", "acc", 0.7, suite="quick", seed=0)
    rows = read_results(path)
    assert [r["value"] for r in rows] == [0.7, 0.6, 1.5, 2.0]          # replaced in place, nothing duplicated
    again.write("app", "dense", "acc", 0.8, suite="smoke", seed=0)     # another suite: a new row
    assert len(read_results(path)) == 5
    assert set(RESULT_FIELDS) <= set(rows[0]) and set(KEY_FIELDS) <= set(RESULT_FIELDS)


def test_write_is_atomic_and_sees_outside_changes(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    w = ResultsWriter(path)
    w.write("a", "v", "m", 1.0)
    before = path.read_text()
    import core.training.results as results

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(results.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        w.write("a", "v", "m2", 2.0)
    assert path.read_text() == before and not list(tmp_path.glob("*.tmp-*"))  # the old file is intact
    monkeypatch.undo()
    with open(path, "a") as f:                                         # someone else appends a row
        f.write(json.dumps({"suite": "", "app": "b", "variant": "v", "metric": "m", "seed": None, "value": 9}) + "\n")
    w.write("a", "v", "m3", 3.0)
    assert [r["app"] for r in read_results(path)] == ["a", "b", "a"]
    assert not list(tmp_path.glob("*.tmp-*"))                           # no temp file left behind


@pytest.mark.parametrize("line, match", [
    ("{oops", "r.jsonl:2: not valid JSON"),
    ("[1, 2]", "r.jsonl:2: a results line must be a JSON object, got list"),
    ("3", "r.jsonl:2: a results line must be a JSON object, got int"),
])
def test_malformed_lines_are_named_with_file_and_line(tmp_path, line, match):
    p = tmp_path / "r.jsonl"
    p.write_text('{"app": "a", "variant": "v", "metric": "m"}\n' + line + "\n")
    with pytest.raises(ValueError, match=match):
        read_results(p)


def test_required_fields(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"app": "a", "variant": "v", "metric": "m"}\n\n{"app": "a", "metric": ""}\n')
    assert len(read_results(p)) == 2
    with pytest.raises(ValueError, match=r"r.jsonl:3: missing or empty field\(s\) variant, metric"):
        read_results(p, required=("app", "variant", "metric"))
