"""The comparison-set driver: runs x seeds, dependency order, declared hand-over, finished runs skipped."""
import json
import os
from pathlib import Path

import pytest

from core.training.experiments import first_at_or_below, load_set, run_set

HERE = Path(__file__).resolve().parent


def _set(tmp_path, text: str) -> Path:
    p = tmp_path / "set.yaml"
    p.write_text(text)
    return p


SET = """
entry: toy_cli
seeds: [0]
common: [lr=0.05]
runs:
  dependant:
    overrides: [variant=b]
    needs: {base: {density: steps}}
  base: [variant=a]
"""


def test_runs_in_dependency_order_and_hands_over_declared_values(tmp_path):
    cs = load_set(_set(tmp_path, SET))
    assert cs.order() == ["base", "dependant"]
    env = {"PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parents[2]), os.environ.get("PYTHONPATH", "")])}
    logs = []
    recs = run_set(cs, tmp_path / "out", seeds=[3], env=env, log=logs.append)
    assert [(r["run"], r["seed"]) for r in recs] == [("base", 3), ("dependant", 3)]
    dep = json.loads((tmp_path / "out" / "dependant" / "seed3" / "summary.json").read_text())
    assert dep["fingerprint"]["density"] == "4" and dep["seed"] == 3
    assert len((tmp_path / "out" / "summaries.jsonl").read_text().splitlines()) == 2
    logs.clear()
    run_set(cs, tmp_path / "out", seeds=[3], env=env, log=logs.append)   # all finished: nothing retrained
    assert logs == []
    # a later invocation for another seed and one run adds to summaries.jsonl instead of replacing it
    recs = run_set(cs, tmp_path / "out", seeds=[1], only=["base"], env=env, log=logs.append)
    assert [(r["run"], r["seed"]) for r in recs] == [("base", 1)]
    gathered = [json.loads(line) for line in (tmp_path / "out" / "summaries.jsonl").read_text().splitlines()]
    assert [(r["run"], r["seed"]) for r in gathered] == [("base", 1), ("base", 3), ("dependant", 3)]
    assert all(r["summary"]["status"] == "finished" for r in gathered)


@pytest.mark.parametrize("text, msg", [
    ("entry: x\nruns: {a: {overrides: [], needs: {b: {k: v}}}}", "needs \\['b'\\]"),
    ("entry: x\nruns: {a: {overrides: [], needs: {b: {k: v}}}, b: {overrides: [], needs: {a: {k: v}}}}", "cycle"),
    ("entry: x\nseeds: [a]\nruns: {a: []}", "seeds must be"),
    ("runs: {a: []}", "needs at least 'entry'"),
])
def test_bad_sets_are_named(tmp_path, text, msg):
    with pytest.raises(ValueError, match=msg):
        load_set(_set(tmp_path, text))


def test_first_at_or_below_finds_the_first_evaluation_that_reaches_the_goal():
    curve = [{"step": 10, "wer": 0.5}, {"step": 20, "wer": 0.3}, {"step": 30, "wer": 0.2}, {"step": 40, "wer": 0.3}]
    assert first_at_or_below(curve, 0.3, "wer")["step"] == 20          # at the goal counts, the first one wins
    assert first_at_or_below(curve, 0.25, "wer")["step"] == 30
    assert first_at_or_below(curve, 0.1, "wer") is None                # never reached
    assert first_at_or_below([], 0.5, "wer") is None
