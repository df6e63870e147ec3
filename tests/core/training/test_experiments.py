"""The comparison-set driver: runs x seeds, dependency order, declared hand-over, finished runs skipped."""
import json
import os
from pathlib import Path

import pytest

from core.training.experiments import (UnsafeSetError, check_override, first_at_or_below, load_set, main,
                                      project_entries, run_set)

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
    cs = load_set(_set(tmp_path, SET), allowed_entries=["toy_cli"])
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
    ("entry: apps.msrs.train\nruns: {a: {overrides: [], needs: {b: {k: v}}}}", "needs \\['b'\\]"),
    ("entry: apps.msrs.train\nruns: {a: {overrides: [], needs: {b: {k: v}}}, b: {overrides: [], needs: {a: {k: v}}}}",
     "cycle"),
    ("entry: apps.msrs.train\nseeds: [a]\nruns: {a: []}", "seeds must be"),
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


# ---- a set file is data: it cannot run code (issue 28) -------------------------------------------------------------

def test_the_allow_list_is_derived_from_the_apps():
    entries = project_entries()
    assert {"apps.asr_ddp.train", "apps.msrs.train", "apps.e2enet.train", "apps.spa_graph.train"} <= set(entries)
    assert all(e.startswith("apps.") and e.endswith(".train") for e in entries)
    for set_file in sorted(HERE.parents[2].glob("apps/*/configs/sets/*.yaml")):   # every shipped set still loads
        load_set(set_file)


CRAFTED = [
    # the audit's attack: a module that runs its arguments, with a `common:` that calls os.system
    ("entry: timeit\ncommon: ['-s', 'import os; os.system(\"touch {m}\")', 'pass']\nruns: {{a: []}}",
     r"entry 'timeit' is not one of the project's training modules"),
    ("entry: runpy\nruns: {{a: []}}", "entry 'runpy'"),
    ("entry: apps.msrs.train.evil\nruns: {{a: []}}", "not one of the project's training modules"),
    # a project entry, but options or Hydra instantiation through the overrides
    ("entry: apps.msrs.train\ncommon: ['+hydra.callbacks.x._target_=os.system', '+hydra.callbacks.x.command=touch {m}']"
     "\nruns: {{a: []}}", r"overrides Hydra itself \(hydra.callbacks.x._target_\)"),
    ("entry: apps.msrs.train\nruns: {{a: ['hydra/launcher=basic']}}", "overrides Hydra itself"),
    ("entry: apps.msrs.train\nruns: {{a: ['+x._target_=os.system', '+x._args_=[\"touch {m}\"]']}}", "_target_"),
    ("entry: apps.msrs.train\nruns: {{a: ['+x={{_target_: os.system}}']}}", "_target_"),
    ("entry: apps.msrs.train\nruns: {{a: ['+cb@hydra.callbacks=x']}}", "overrides Hydra itself"),
    ("entry: apps.msrs.train\ncommon: ['--cfg', 'job']\nruns: {{a: []}}", "is a command-line option"),
    ("entry: apps.msrs.train\nruns: {{a: ['-c', 'import os']}}", "is a command-line option"),
    ("entry: apps.msrs.train\nruns: {{a: ['just words']}}", "is not a valid override"),
    ("entry: apps.msrs.train\nruns: {{a: [{{k: v}}]}}", "is not an override string"),
    ("entry: apps.msrs.train\nseed_key: hydra.job.name\nruns: {{a: []}}", "overrides Hydra itself"),
    ("entry: apps.msrs.train\nruns: {{a: {{overrides: [], needs: {{b: {{hydra.x: density}}}}}}, b: []}}",
     "overrides Hydra itself"),
]


@pytest.mark.parametrize("text, msg", CRAFTED)
def test_a_crafted_set_is_refused_before_anything_runs(tmp_path, capsys, text, msg):
    marker = tmp_path / "code_ran"
    path = _set(tmp_path, text.format(m=marker))
    with pytest.raises(UnsafeSetError, match=msg) as e:
        load_set(path)
    assert str(path) in str(e.value)                    # names the file
    from benchmarks.cli import main as cli_main

    assert cli_main(["run", str(path), "--out", str(tmp_path / "out")]) == 2   # the CLI: one line, exit 2
    err = capsys.readouterr().err
    assert err.startswith("sparselab run: error:") and str(path) in err
    assert not marker.exists() and not (tmp_path / "out").exists()   # nothing ran, nothing was made


def test_a_set_changed_after_loading_or_built_in_code_is_checked_again(tmp_path, monkeypatch):
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    cs = load_set(_set(tmp_path, "entry: apps.msrs.train\nruns: {a: [preset=quick]}"))
    cs.entry = "timeit"
    with pytest.raises(UnsafeSetError, match="timeit"):
        run_set(cs, tmp_path / "out")
    cs.entry = "apps.msrs.train"
    cs.runs["a"].overrides.append("--help")
    with pytest.raises(UnsafeSetError, match="command-line option"):
        run_set(cs, tmp_path / "out")
    cs.runs["a"].overrides.pop()
    with pytest.raises(UnsafeSetError, match="_target_"):
        run_set(cs, tmp_path / "out", extra=["+a._target_=os.system"])
    assert calls == []


def test_runs_get_an_argument_list_never_a_shell(tmp_path, monkeypatch):
    import subprocess

    seen = []

    def fake_run(cmd, **kw):
        seen.append((cmd, kw))
        rd = Path(cmd[-1].split("=", 1)[1])
        rd.mkdir(parents=True)
        (rd / "summary.json").write_text(json.dumps({"status": "finished", "density": 0.25}))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    cs = load_set(_set(tmp_path, "entry: apps.msrs.train\ncommon: ['note=a b; rm -rf x']\nruns:\n  a: [x=1]\n"
                                 "  b: {overrides: [], needs: {a: {sparse.density: density}}}\n"))
    run_set(cs, tmp_path / "out", seeds=[0], log=lambda *_: None)
    assert [c[0][1:3] for c in seen] == [["-m", "apps.msrs.train"]] * 2
    assert all(isinstance(c, list) and not kw.get("shell") for c, kw in seen)
    assert "note=a b; rm -rf x" in seen[0][0] and "sparse.density=0.25" in seen[1][0]


@pytest.mark.parametrize("item", ["a=1", "+a.b=x", "++a.b=[1,2]", "~a", "~a.b=3", "model=small", "data/aug=on",
                                  "+cb@pkg.x=y", "msrs.max_density=null", "k=", "trainer.seed=0", "x='a b'"])
def test_valid_overrides_pass(item):
    assert check_override(item) == item


def test_archived_finished_runs_are_reused_from_a_read_only_folder(tmp_path, monkeypatch, read_only):
    import subprocess

    def fake_run(cmd, **kw):
        rd = Path(cmd[-1].split("=", 1)[1])
        rd.mkdir(parents=True)
        (rd / "summary.json").write_text(json.dumps({"status": "finished", "density": 0.25}))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    cs = load_set(_set(tmp_path, "entry: apps.msrs.train\nruns: {a: [x=1], b: [x=2]}\n"))
    first = run_set(cs, tmp_path / "out", seeds=[0, 1], log=lambda *_: None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("a finished run was started again"))
    read_only(tmp_path / "out")
    again = run_set(cs, tmp_path / "out", seeds=[0, 1], log=lambda *_: None)
    assert again == first and len(again) == 4


def test_cli_overrides_may_follow_the_options(tmp_path, monkeypatch):
    import core.training.experiments as ex

    seen = {}
    monkeypatch.setattr(ex, "run_set", lambda cs, out, **kw: seen.update(out=out, **kw))
    path = _set(tmp_path, "entry: apps.msrs.train\nruns: {dense: [x=1], b: [x=2]}\n")
    assert main([str(path), "--out", str(tmp_path / "o"), "--seeds", "2", "--only", "dense", "trainer.device=cpu",
                 "trainer.progress=off"]) == 0
    assert seen["extra"] == ["trainer.device=cpu", "trainer.progress=off"] and seen["seeds"] == [2]
    assert seen["only"] == ["dense"]


def test_a_list_of_numbers_is_handed_over_as_a_hydra_list():
    """msrs hands MSRS-S's learned per-layer densities to static / SET / RigL (``needs``); a list of numbers becomes
    ``[a,b,...]`` with the numbers exactly as saved; anything else is an error naming the summary key."""
    from core.training.experiments import _handover_value, check_override

    dens = [0.98, 0.980903, 0.5, 1e-05, 0]
    v = _handover_value(dens, "static", "layer_densities_list", "msrs_s")
    assert v == "[0.98,0.980903,0.5,1e-05,0]"
    assert check_override(f"sparse.layer_densities={v}") == f"sparse.layer_densities={v}"
    from hydra.core.override_parser.overrides_parser import OverridesParser
    parsed = OverridesParser.create().parse_override(f"sparse.layer_densities={v}").value()
    assert parsed == dens                                      # Hydra's grammar reads the same numbers back
    assert _handover_value(0.25, "r", "k", "d") == "0.25" and _handover_value("a", "r", "k", "d") == "a"
    for bad in ([], [0.1, "x"], [True], {"a": 1}, None, True, [float("nan")]):
        with pytest.raises(ValueError, match="'k' from 'd'"):
            _handover_value(bad, "r", "k", "d")
