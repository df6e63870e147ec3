from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from apps.spa_graph.recipe import Recipe
from core.training.results import read_results

CONF = str(Path(__file__).resolve().parents[3] / "apps" / "spa_graph" / "configs")


def _cfg(*overrides):
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return compose(config_name="train", overrides=list(overrides))


def test_quick_preset_runs_writes_results_and_plots(tmp_path):
    cfg = _cfg("preset=quick", "epochs=10", "seeds=1", f"out_dir={tmp_path}", "synthetic.num_nodes=150")
    rows = Recipe(cfg).run()
    assert {r["method"] for r in rows} == {"spa_official", "spa_ranked", "random", "featprop"}
    recs = read_results(tmp_path / "results.jsonl")
    assert {r["metric"] for r in recs} >= {"accuracy", "macro_f1", "grouped_macro_f1", "query_time", "macro_f1_mean"}
    assert "spa_ranked" in (tmp_path / "table.txt").read_text()
    n = len(recs)
    again = _cfg("preset=quick", "epochs=10", "seeds=1", f"out_dir={tmp_path}", "synthetic.num_nodes=150", "plot=false",
                 "methods=[random]")
    Recipe(again).run()                                # a re-run replaces its keyed rows instead of appending
    assert len(read_results(tmp_path / "results.jsonl")) == n
    assert "dropout: 0.0" in (tmp_path / "config.yaml").read_text()
    assert all(r["app"] == "spa_graph" for r in recs)
    assert (tmp_path / "sbm_vs_budget.png").stat().st_size > 1000
    assert list(tmp_path.glob("sbm_communities_*.png"))


@pytest.mark.parametrize("override,msg", [
    ("method=magic", "unknown"), ("spa.eps=1.5", "eps"), ("spa.mu=0", "mu"), ("budgets=[0]", "budget"),
    ("eval_on=test", "eval_on"), ("model=gat", "model"), ("budgets=[2.5]", "integer"), ("budgets=[40.7]", "integer"),
    ("budget=2.5", "integer"), ("epochs=0", "epochs"), ("seeds=0", "seeds"), ("budgets=[]", "empty"),
])
def test_bad_config_fails_at_the_door(override, msg, tmp_path):
    overrides = ["preset=quick", "methods=null", override, f"out_dir={tmp_path}"]
    if override.startswith("budget="):
        overrides.insert(2, "budgets=null")
    with pytest.raises(ValueError, match=msg):
        Recipe(_cfg(*overrides)).run()
    assert not (tmp_path / "config.yaml").exists()       # nothing written for a config that fails validation


def test_paper_budgets_are_the_default(tmp_path):
    r = Recipe(_cfg("dataset=minesweeper", f"out_dir={tmp_path}"))
    assert r.budgets == [160, 320, 640]
    assert r.methods[0] == "spa_official" and r.train.dropout == 0.0 and r.cfg.eval_on == "all"


def test_budget_larger_than_graph(tmp_path):
    cfg = _cfg("preset=quick", "budgets=[5000]", f"out_dir={tmp_path}")
    with pytest.raises(ValueError, match="exceeds"):
        Recipe(cfg).run()


def test_report_marks_best_only_beyond_the_spread_and_states_spa_verdict(tmp_path):
    from apps.spa_graph import report
    from core.training.results import ResultsWriter

    w = ResultsWriter(tmp_path / "r.jsonl")
    vals = {"spa_official": [0.60, 0.62, 0.61], "random": [0.50, 0.52, 0.51], "featprop": [0.59, 0.63, 0.55]}
    for b, shift in ((20, 0.0), (40, 0.2)):
        for m, v in vals.items():
            for s, x in enumerate(v):
                x = x + (shift if m == "random" else 0.0)
                w.write("spa_graph", f"gcn/citeseer/{m}/b{b}", "macro_f1", x, seed=s, model="gcn", dataset="citeseer",
                        method=m, budget=b)
    cells = report.collect([tmp_path / "r.jsonl"])[("gcn", "citeseer")]
    table = report.quality_table("gcn", "citeseer", cells)
    row20 = next(line for line in table.splitlines() if line.startswith("| 20 |"))
    assert "**" not in row20.split("|")[3]            # spa 61.0 ± 1.0 vs featprop 59.0 ± 4.0 overlap: no mark
    assert "within the spread" in row20
    row40 = next(line for line in table.splitlines() if line.startswith("| 40 |"))
    assert "loses beyond the spread" in row40 and "**71.0 ± 1.0**" in row40
    assert "20 (paper)" in table and "46.3 ± 0.5" in table      # the paper's CiteSeer GCN cell beside ours
    lines = report.cell_by_cell({("gcn", "citeseer"): cells}).splitlines()
    assert "- GCN · citeseer · macro-F1 (%), b = 20: within the spread (+2.0 vs featprop)" in lines
    assert any(x.startswith("- GCN · citeseer · macro-F1 (%), b = 40: loses beyond the spread") for x in lines)
    assert "- GCN · citeseer · accuracy (%), b = 20: not run" in lines          # no accuracy rows were written
    one = {k: {m: v[:1] for m, v in d.items()} for k, d in cells.items()}
    assert report.spa_verdict(one, 40, "macro_f1").startswith("not judged: one seed")
    md = report.render({("gcn", "citeseer"): cells})
    assert md.index("query time (s)") < md.index("cell by cell") and "b = 40: loses" in md
    (png,) = report.plot_all({("gcn", "citeseer"): cells}, tmp_path / "plots")
    assert png.name == "gcn_citeseer_vs_budget.png" and png.stat().st_size > 0


def test_default_run_folder_is_the_shared_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = Recipe(_cfg("preset=quick"))
    out = r.out_dir()
    assert out.parts[:2] == ("outputs", "spa_graph") and len(out.name.split("-")) >= 3
