"""The eps / mu sweep: structure rows equal fresh SCANs, quality rows come from the project's protocol, the CLI
writes its results, plot and table and says where they are."""
import json

import numpy as np
import pytest

from apps.spa_graph.data import sbm_graph
from apps.spa_graph.protocol import TrainConfig
from apps.spa_graph.scan import scan
from apps.spa_graph.sweep import eps_mu_sweep, format_sweep, main, plot_sweep, structure_rows


@pytest.fixture(scope="module")
def data():
    return sbm_graph(300, 4, 10, 0.9, seed=0)


def test_structure_rows_equal_fresh_scans(data):
    rows, index, results = structure_rows(data.adj, [0.6, 0.3, 0.45], [3, 2])
    assert [(r["eps"], r["mu"]) for r in rows] == [(0.3, 2), (0.45, 2), (0.6, 2), (0.3, 3), (0.45, 3), (0.6, 3)]
    for r, res in zip(rows, results):
        ref = scan(data.adj, r["eps"], r["mu"], engine="numpy")
        np.testing.assert_array_equal(res.labels, ref.labels)
        assert r["clusters"] == ref.num_clusters and r["core"] == ref.role_counts()["core"]
        assert r["core"] + r["border"] + r["hub"] + r["outlier"] == data.num_nodes
        assert r["members"] == r["core"] + r["border"]
    with pytest.raises(ValueError, match="eps"):
        structure_rows(data.adj, [1.2], [3])
    with pytest.raises(ValueError, match="mu"):
        structure_rows(data.adj, [0.5], [0])


@pytest.mark.parametrize("method", ["spa_official", "spa_ranked"])
def test_quality_rows_and_plot(data, method, tmp_path):
    rows = eps_mu_sweep(data, [0.4, 0.6], [2, 3], budget=8, seeds=2, method=method,
                        train=TrainConfig(epochs=5))
    assert len(rows) == 4
    for r in rows:
        assert 0.0 <= r["macro_f1_mean"] <= 1.0 and r["macro_f1_std"] >= 0.0
        assert sorted(r["macro_f1"]) == r["seeds"] == [0, 1]
        assert r["method"] == method and r["budget"] == 8
    again = eps_mu_sweep(data, [0.4, 0.6], [2, 3], budget=8, seeds=2, method=method, train=TrainConfig(epochs=5))
    assert [r["macro_f1"] for r in again] == [r["macro_f1"] for r in rows]          # deterministic per seed
    png = plot_sweep(rows, tmp_path / "s.png", "t")
    assert png.stat().st_size > 1000
    assert "macro-F1" in format_sweep(rows)


def test_bad_arguments(data):
    with pytest.raises(ValueError, match="method"):
        eps_mu_sweep(data, [0.5], [3], budget=5, method="graphpart")
    with pytest.raises(ValueError, match="budget"):
        eps_mu_sweep(data, [0.5], [3], budget=0)
    with pytest.raises(ValueError, match="seeds"):
        eps_mu_sweep(data, [0.5], [3], budget=5, seeds=0)


def test_cli_writes_results_plot_and_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSELAB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "sweep"
    rows = main(["--dataset", "cora", "--budget", "10", "--eps", "0.5", "0.7", "--mu", "3", "--seeds", "1",
                 "--epochs", "3", "--out", str(out)])
    text = capsys.readouterr().out
    assert "results: " in text and "plot: " in text and str(out / "sweep.png") in text
    saved = [json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()]
    assert len(saved) == len(rows) == 2 and saved[0]["dataset"] == "cora"
    assert (out / "sweep.png").is_file() and "(paper)" in (out / "sweep.md").read_text()
    main(["--dataset", "cora", "--budget", "10", "--eps", "0.5", "--mu", "3", "--structure-only", "--out", str(out)])
    assert "macro_f1_mean" not in json.loads((out / "sweep.jsonl").read_text().splitlines()[0])


def test_sparselab_spa_sweep_is_the_sweep(tmp_path, monkeypatch, capsys):
    """``sparselab-spa sweep ...`` (the console script's subcommand) runs the same sweep."""
    import sys

    from apps.spa_graph import train

    out = tmp_path / "sweep"
    monkeypatch.setattr(sys, "argv", ["sparselab-spa", "sweep", "--dataset", "cora", "--budget", "10", "--eps", "0.5",
                                      "--mu", "3", "--structure-only", "--out", str(out)])
    train.main()
    rows = [json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["eps"] == 0.5 and rows[0]["mu"] == 3 and "clusters" in str(rows[0])
