"""Your own graph: ``data=file data.path=...`` in each format, with nodes whose label is unknown (-1 or a mask):
never selected, never scored."""
import json

import numpy as np
import pytest
import torch

from apps.common.hydra_config import compose
from apps.spa_graph.data import load_graph_file, sbm_graph
from apps.spa_graph.protocol import TrainConfig, evaluate_selection
from apps.spa_graph.recipe import Recipe
from apps.spa_graph.selectors import METHODS, SelectionContext, select
from core.settings import ConfigError
from core.training.results import read_results


@pytest.fixture(scope="module")
def sbm():
    g = sbm_graph(120, 3, 10, 0.9, seed=0)
    y = g.y.numpy().copy()
    y[::4] = -1                                                    # every fourth node: label unknown
    return g, y


def _write(kind, folder, g, y):
    ei = g.edge_index.numpy()
    if kind == "pt":
        p = folder / "graph.pt"
        torch.save({"x": g.x, "edge_index": g.edge_index, "y": torch.from_numpy(y)}, p)
    elif kind == "pt_mask":
        p = folder / "graph.pt"
        torch.save({"x": g.x, "edge_index": g.edge_index, "y": torch.from_numpy(np.maximum(y, 0)),
                    "labelled": torch.from_numpy(y >= 0)}, p)
    elif kind == "npz":
        p = folder / "graph.npz"
        np.savez(p, x=g.x.numpy(), edges=ei.T, y=y)
    elif kind == "heterophilous":
        p = folder / "het.npz"
        np.savez(p, node_features=g.x.numpy(), node_labels=y, edges=ei.T)
    else:
        p = folder / "csv"
        p.mkdir()
        (p / "edges.csv").write_text("source,target\n" + "\n".join(f"{a},{b}" for a, b in ei.T) + "\n")
        (p / "features.csv").write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in g.x.numpy()) + "\n")
        (p / "labels.csv").write_text("label\n" + "\n".join("" if v < 0 else str(v) for v in y) + "\n")
    return p


@pytest.mark.parametrize("kind", ["pt", "pt_mask", "npz", "heterophilous", "csv"])
def test_every_format_loads_with_unlabelled_nodes(kind, tmp_path, sbm):
    g, y = sbm
    d = load_graph_file(_write(kind, tmp_path, g, y))
    assert d.num_nodes == 120 and d.num_classes == 3 and (d.adj != g.adj).nnz == 0
    np.testing.assert_array_equal(d.labelled, y >= 0)
    assert (d.y.numpy()[~d.labelled] == -1).all() and d.num_labelled == int((y >= 0).sum())
    np.testing.assert_allclose(d.x.numpy(), g.x.numpy(), atol=1e-5)


@pytest.mark.parametrize("method", list(METHODS))
def test_unlabelled_nodes_are_never_selected(method, tmp_path, sbm):
    g, y = sbm
    d = load_graph_file(_write("npz", tmp_path, g, y))
    picks = select(method, SelectionContext(d, train=TrainConfig(epochs=3)), 30, seed=1)
    assert d.labelled[picks].all()


def test_unlabelled_nodes_are_never_scored(tmp_path, sbm):
    g, y = sbm
    d = load_graph_file(_write("npz", tmp_path, g, y))
    picks = np.flatnonzero(d.labelled)[:12]
    r = evaluate_selection(d, picks, TrainConfig(epochs=20), 0)
    full = evaluate_selection(g, picks, TrainConfig(epochs=20), 0)       # same graph, every label known
    assert r["accuracy"] != full["accuracy"] or r["macro_f1"] != full["macro_f1"]
    # scored on the labelled nodes only: equal to scoring the fully labelled graph restricted to them
    from apps.spa_graph.protocol import train_gnn
    pred = train_gnn(d, picks, TrainConfig(epochs=20), 0).argmax(1).numpy()
    lab = d.labelled
    assert r["accuracy"] == pytest.approx(float((pred[lab] == y[lab]).mean()))
    with pytest.raises(ValueError, match="no label"):
        evaluate_selection(d, np.flatnonzero(~d.labelled)[:3], TrainConfig(epochs=2), 0)
    with pytest.raises(ValueError, match="without a label"):
        SelectionContext(d, candidates=np.ones(d.num_nodes, dtype=bool))


def test_cli_runs_on_your_own_graph(tmp_path, sbm):
    """The README's example: sparselab-spa data=file data.path=graph.pt budget=20."""
    g, y = sbm
    path = _write("pt", tmp_path, g, y)
    out = tmp_path / "run"
    Recipe(compose("spa_graph", ["data=file", f"data.path={path}", "budget=20", "seeds=2", "epochs=10",
                                 "methods=[spa_official,random,featprop]", "plot=false", f"run_dir={out}"])).run()
    rows = read_results(out / "results.jsonl")
    chosen = {s for r in rows if r["metric"] == "macro_f1" for s in [r["seed"]]}
    assert chosen == {0, 1}
    assert json.loads((out / "summary.json").read_text())["dataset"] == "graph"
    labelled = np.flatnonzero(y >= 0)
    picks = [json.loads(line) for line in (out / "selections.jsonl").read_text().splitlines()]
    assert {(p["method"], p["seed"]) for p in picks} == {(m, s) for m in ("spa_official", "random", "featprop")
                                                         for s in (0, 1)}
    assert all(len(p["selected"]) == 20 and set(p["selected"]) <= set(labelled.tolist()) for p in picks)


@pytest.mark.parametrize("content,msg", [
    ({"x": torch.zeros(3, 2), "y": torch.tensor([0, 1, 0])}, "edge_index"),
    ({"x": torch.zeros(3, 2), "edge_index": torch.tensor([[0], [5]]), "y": torch.tensor([0, 1, 0])}, "outside"),
    ({"x": torch.zeros(3, 2), "edge_index": torch.tensor([[0], [1]]), "y": torch.tensor([-1, -1, -1])}, "no node"),
    ({"x": torch.zeros(3, 2), "edge_index": torch.tensor([[0], [1]]), "y": torch.tensor([0, -2, 1])}, ">= 0"),
    ([1, 2, 3], "dict of tensors"),
])
def test_bad_graph_files_name_the_file(content, msg, tmp_path):
    p = tmp_path / "bad.pt"
    torch.save(content, p)
    with pytest.raises(ValueError, match=msg) as e:
        load_graph_file(p)
    assert "bad.pt" in str(e.value)


def test_data_file_without_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        Recipe(compose("spa_graph", ["data=file", "budget=5", f"run_dir={tmp_path}"])).run()
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        Recipe(compose("spa_graph", ["data=file", f"data.path={tmp_path / 'nope.pt'}", "budget=5",
                                     f"run_dir={tmp_path}"])).run()
    assert not (tmp_path / "config.yaml").exists()
