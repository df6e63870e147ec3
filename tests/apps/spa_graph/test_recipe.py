import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.common.hydra_config import compose
from apps.spa_graph import recipe as recipe_mod
from apps.spa_graph.recipe import Recipe, default_settings, settings_from_config
from core.settings import ConfigError
from core.training.results import read_results

ROOT = Path(__file__).resolve().parents[3]


def _cfg(*overrides):
    return compose("spa_graph", list(overrides))


def test_quick_preset_runs_writes_results_and_plots(tmp_path, capsys):
    cfg = _cfg("preset=quick", "epochs=10", "seeds=1", f"run_dir={tmp_path}", "data.num_nodes=150")
    rows = Recipe(cfg).run()
    assert {r["method"] for r in rows} == {"spa_official", "spa_ranked", "random", "featprop"}
    recs = read_results(tmp_path / "results.jsonl")
    assert {r["metric"] for r in recs} >= {"accuracy", "macro_f1", "grouped_macro_f1", "query_time", "macro_f1_mean"}
    assert {r["fidelity"] for r in recs if r["method"] == "random"} == {"official"}
    assert "spa_ranked" in (tmp_path / "table.txt").read_text()
    picks = [json.loads(line) for line in (tmp_path / "selections.jsonl").read_text().splitlines()]
    assert len(picks) == len(rows) and [p["selected"] for p in picks] == [r["selected"] for r in rows]
    assert all(len(set(p["selected"])) == p["budget"] for p in picks)       # the nodes to label, per method
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["fidelity"] == "official" and summary["cells"]
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("[spa] finished: run folder") and str(tmp_path) in out[-1]
    n = len(recs)
    again = _cfg("preset=quick", "epochs=10", "seeds=1", f"run_dir={tmp_path}", "data.num_nodes=150", "plot=false",
                 "methods=[random]")
    Recipe(again).run()                                # a re-run replaces its keyed rows instead of appending
    assert len(read_results(tmp_path / "results.jsonl")) == n
    assert "dropout: 0.0" in (tmp_path / "config.yaml").read_text()
    assert all(r["app"] == "spa_graph" for r in recs)
    assert (tmp_path / "sbm_vs_budget.png").stat().st_size > 1000
    assert list(tmp_path.glob("sbm_communities_*.png"))
    assert not list(tmp_path.glob(".*tmp*"))         # every file written atomically, no temporaries left


@pytest.mark.parametrize("override,msg", [
    ("methods=magic", "methods"), ("spa.eps=1.5", "spa.eps"), ("spa.mu=0", "spa.mu"), ("budget=[0]", "budget"),
    ("eval_on=test", "eval_on"), ("model=gat", "model"), ("budget=[2.5]", "budget"), ("budget=[40.7]", "budget"),
    ("budget=2.5", "budget"), ("budget=abc", "budget"), ("epochs=0", "epochs"), ("seeds=0", "seeds"),
    ("budget=[]", "budget"), ("lr=-1", "lr"), ("lr=abc", "lr"), ("fidelity=exact", "fidelity"),
    ("dropout=1.0", "dropout"), ("spa.damping=1.0", "spa.damping"), ("features=tfidf", "features"),
    ("+spa.epsilon=0.3", "spa.epsilon"), ("spa.include_self=true", "include_self"),
])
def test_bad_config_fails_at_the_door_naming_the_key(override, msg, tmp_path):
    with pytest.raises(ConfigError, match=msg):
        Recipe(_cfg("preset=quick", override, f"run_dir={tmp_path}")).run()
    assert not (tmp_path / "config.yaml").exists()       # nothing written for a config that fails validation


@pytest.mark.parametrize("override,msg", [("lr=-1", "lr=-1"), ("budget=abc", "budget='abc'")])
def test_cli_bad_value_is_one_line_exit_2_and_no_hydra_folder(override, msg, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARSELAB_DEBUG": ""}
    p = subprocess.run([sys.executable, "-m", "apps.spa_graph.train", "preset=quick", override], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert err[-1].startswith("sparselab-spa: error:") and msg in err[-1] and "Traceback" not in p.stderr
    assert not (tmp_path / "outputs").exists()           # neither a run folder nor Hydra's own


def test_preset_quick_honours_budget_overrides():
    assert default_settings("preset=quick").grid.budgets == (8, 16)
    assert default_settings("preset=quick", "budget=5").grid.budgets == (5,)
    assert default_settings("preset=quick", "budget=[3,6]").grid.budgets == (3, 6)
    assert default_settings("preset=quick", "data=cora").data.name == "cora"


def test_paper_budgets_are_the_default():
    s = default_settings("data=minesweeper")
    assert s.grid.budgets == (160, 320, 640)
    assert s.grid.methods[0] == "spa_official" and s.train.dropout == 0.0 and s.grid.eval_on == "all"
    assert default_settings("data=file").grid.budgets is None
    with pytest.raises(ConfigError, match="budget"):
        Recipe(default_settings("data=file", "data.path=g.pt"))     # your own graph has no paper budgets


def test_settings_are_frozen_and_every_key_is_read():
    s = default_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.spa.eps = 0.1
    with pytest.raises(ConfigError, match="nonsense_key"):
        settings_from_config(_cfg("+nonsense_key=1"))
    with pytest.raises(ConfigError, match="data.num_nodes"):    # a key of another data option
        settings_from_config(_cfg("data=cora", "+data.num_nodes=5"))


def test_spa_eps_override_reaches_the_grid_and_scan(monkeypatch, tmp_path):
    """The eps walk: spa.eps on the command line -> SpaParams -> the SPA selector -> SCAN, with nothing in between."""
    seen = {}
    real = recipe_mod.run_grid

    def spy(data, selectors, budgets, seeds, train, **kw):
        seen["selectors"], seen["budgets"], seen["train"] = selectors, budgets, train
        return real(data, selectors, budgets, seeds, train, **kw)

    import apps.spa_graph.cdlib_order as cdo
    import apps.spa_graph.selectors.spa as spa_mod
    eps_used = []
    real_cdlib = cdo.cdlib_scan_communities
    monkeypatch.setattr(spa_mod, "cdlib_scan_communities",
                        lambda adj, eps, mu, seed, similarity=None: eps_used.append(eps) or real_cdlib(adj, eps, mu, seed,
                                                                                                      similarity))
    monkeypatch.setattr(recipe_mod, "run_grid", spy)
    Recipe(_cfg("preset=quick", "spa.eps=0.7", "spa.mu=2", "budget=5", "epochs=3", "seeds=1", "lr=0.02",
                "plot=false", f"run_dir={tmp_path}")).run()
    spa = next(s for s in seen["selectors"] if s.name == "spa_official")
    assert (spa.params.eps, spa.params.mu) == (0.7, 2) and seen["budgets"] == (5,)
    assert seen["train"].epochs == 3 and seen["train"].lr == 0.02
    assert eps_used and set(eps_used) == {0.7}


def test_budget_larger_than_graph(tmp_path):
    with pytest.raises(ConfigError, match="exceeds"):
        Recipe(_cfg("preset=quick", "budget=[5000]", f"run_dir={tmp_path}")).run()
    assert not (tmp_path / "config.yaml").exists()


def test_default_run_folder_is_the_fingerprinted_one(tmp_path):
    a = Recipe(_cfg("preset=quick")).run_dir()
    b = Recipe(_cfg("preset=quick", "plot=false", "threads=2")).run_dir()         # excluded keys: same identity
    c = Recipe(_cfg("preset=quick", "spa.eps=0.6")).run_dir()
    assert a.parts[:2] == ("outputs", "spa_graph") and len(a.name.split("-")) >= 3
    assert a.name.split("-")[-1] == b.name.split("-")[-1] != c.name.split("-")[-1]


def test_report_verdicts_come_from_core_stats(tmp_path):
    from apps.spa_graph import report
    from core.training.results import ResultsWriter

    w = ResultsWriter(tmp_path / "r.jsonl")
    vals = {("spa_official", ""): [0.60, 0.62, 0.61], ("random", "official"): [0.50, 0.52, 0.51],
            ("featprop", "official"): [0.59, 0.63, 0.55], ("featprop", "corrected"): [0.70, 0.72, 0.71]}
    recs = []
    for (m, f), v in vals.items():
        for s, x in enumerate(v):
            for metric in ("macro_f1", "grouped_macro_f1"):
                recs.append(dict(app="spa_graph", variant=f"gcn/citeseer/{m}@{f}/b20", metric=metric, value=x, seed=s,
                                 model="gcn", dataset="citeseer", method=m, fidelity=f, budget=20))
    w.write_records(recs)
    cells = report.collect([tmp_path / "r.jsonl"])[("gcn", "citeseer")]
    assert report.spa_verdict(cells, 20, "macro_f1", "official").startswith("within noise: +2.0 vs featprop")
    assert report.spa_verdict(cells, 20, "macro_f1", "corrected").startswith("SPA worse: -10.0 vs featprop")
    table = report.quality_table("gcn", "citeseer", cells, "grouped_macro_f1")
    assert "| 20 | spa_official (3 seeds) | 61.0 ± 1.0 | (same rule) |" in table
    assert "46.3 ± 0.5" in table                                   # the paper's CiteSeer cell beside ours
    md = report.render({("gcn", "citeseer"): cells})
    assert md.index("grouped macro-F1") < md.index("| macro-F1 | 20 |") and "paired by seed" in md
    assert "Mean |ours − paper|" in md
    one = {k: {m: {0: v[0]} for m, v in d.items()} for k, d in cells.items()}
    assert report.spa_verdict(one, 20, "macro_f1", "official").startswith("not judged")
    (png,) = report.plot_all({("gcn", "citeseer"): cells}, tmp_path / "plots")
    assert png.name == "gcn_citeseer_vs_budget.png" and png.stat().st_size > 0


def test_cli_run_leaves_only_its_run_folder_and_ends_with_a_summary_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARSELAB_DEBUG": ""}
    p = subprocess.run([sys.executable, "-m", "apps.spa_graph.train", "preset=quick", "epochs=2", "seeds=1",
                        "budget=4", "plot=false", "methods=[spa_official,random]"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    (run,) = (tmp_path / "outputs" / "spa_graph").iterdir()        # no outputs/spa_graph/hydra, no .hydra
    assert sorted(f.name for f in run.iterdir()) == ["config.yaml", "results.jsonl", "selections.jsonl", "summary.json",
                                                        "table.txt"]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["outputs"]
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith(f"[spa] finished: run folder outputs/spa_graph/{run.name}") and "next:" in last


@pytest.mark.slow
def test_a_spa_set_runs_through_the_comparison_driver(tmp_path, monkeypatch):
    """``sparselab run SET``: one process per (run, seed), seeds via ``seed``, folders via ``run_dir``; a finished run
    is read back, not rerun; the report reads the per-seed rows of every run."""
    from apps.spa_graph import report
    from core.training.experiments import load_set, run_set

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    sf = tmp_path / "set.yaml"
    sf.write_text("entry: apps.spa_graph.train\nseeds: [0, 1]\nseed_key: seed\nrun_dir_key: run_dir\n"
                  "common: [preset=quick, epochs=2, seeds=1, plot=false, budget=4]\n"
                  "runs:\n  official: [methods=paper]\n  corrected: [methods=baselines, fidelity=corrected]\n")
    recs = run_set(load_set(sf), tmp_path / "out")
    assert {(r["run"], r["seed"]) for r in recs} == {(a, s) for a in ("official", "corrected") for s in (0, 1)}
    assert all(r["summary"]["status"] == "finished" for r in recs)
    again = run_set(load_set(sf), tmp_path / "out", log=lambda m: pytest.fail(f"rerun: {m}") if "done in" in m else None)
    assert len(again) == 4
    data = report.collect(sorted((tmp_path / "out").glob("*/seed*/results.jsonl")))
    cells = data[("gcn", "sbm")]
    assert set(cells[(4, "random", "official")]["macro_f1"]) == {0, 1}
    assert set(cells[(4, "random", "corrected")]["macro_f1"]) == {0, 1}
    assert "vs best official baseline" in report.render(data)


def test_grid_picks_plot_shows_where_minesweeper_picks_lie(tmp_path, capsys):
    from apps.spa_graph.plots import main

    main(["grid-picks", "--budget", "20", "--methods", "spa_official,random", "--out", str(tmp_path / "p.png")])
    out = capsys.readouterr().out
    assert "1 SCAN communities" in out and "spa_official" in out and "blocks reached" in out
    assert (tmp_path / "p.png").stat().st_size > 1000
