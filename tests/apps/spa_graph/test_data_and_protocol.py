import numpy as np
import pytest

from apps.spa_graph.data import expected_files, lfr_graph, load_dataset, sbm_graph
from apps.spa_graph.data.datasets import PACKAGED
from apps.spa_graph.protocol import TrainConfig, evaluate_selection


def test_packaged_files_and_licences_present():
    for s in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
        assert (PACKAGED / "planetoid" / f"ind.cora.{s}").is_file()
        assert (PACKAGED / "planetoid" / f"ind.citeseer.{s}").is_file()
    assert (PACKAGED / "planetoid" / "LICENSE").is_file() and (PACKAGED / "heterophilous" / "LICENCE.txt").is_file()
    assert "kimiyoung/planetoid" in (PACKAGED / "SOURCES.md").read_text()


def test_minesweeper_loads_in_place_writing_nothing(cache):
    g = load_dataset("minesweeper")
    assert (g.num_nodes, g.num_edges, g.num_classes) == (10000, 39402, 2)
    assert not cache.exists()                          # read from the package: no cache, no processed files
    a = g.adj
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0


@pytest.mark.parametrize("name,pyg", [("cora", "Cora"), ("citeseer", "CiteSeer")])
def test_planetoid_parser_equals_pygs_reader(name, pyg):
    """Our restricted parser builds what PyG's read_planetoid_data builds (PyG unpickles: run here on the
    repository's own packaged files only)."""
    import torch
    from torch_geometric.io.planetoid import read_planetoid_data

    from apps.spa_graph.graph import clean_adjacency

    ref = read_planetoid_data(str(PACKAGED / "planetoid"), pyg)
    g = load_dataset(name)
    assert torch.equal(ref.x, g.x) and torch.equal(ref.y, g.y)
    assert (clean_adjacency(ref.edge_index, ref.num_nodes).adj != g.adj).nnz == 0
    assert (g.num_nodes, g.x.shape[1]) == {"cora": (2708, 1433), "citeseer": (3327, 3703)}[name]


def test_heterophilous_parser_equals_pygs_process(tmp_path):
    import shutil

    import torch
    from torch_geometric.datasets import HeterophilousGraphDataset

    from apps.spa_graph.graph import clean_adjacency

    raw = tmp_path / "minesweeper" / "raw"
    raw.mkdir(parents=True)
    shutil.copyfile(PACKAGED / "heterophilous" / "minesweeper.npz", raw / "minesweeper.npz")
    ref = HeterophilousGraphDataset(str(tmp_path), "minesweeper")[0]     # processes our own packaged file
    g = load_dataset("minesweeper")
    assert torch.equal(ref.x, g.x) and torch.equal(ref.y, g.y)
    assert (clean_adjacency(ref.edge_index, ref.num_nodes).adj != g.adj).nnz == 0


def test_unpackaged_dataset_without_root_names_the_files():
    with pytest.raises(FileNotFoundError, match="ind.pubmed.x"):
        load_dataset("pubmed")
    with pytest.raises(FileNotFoundError, match="data.root"):
        load_dataset("wikics")
    with pytest.raises(FileNotFoundError, match="cora.npz"):
        load_dataset("corafull")


def test_missing_files_under_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.json"):
        load_dataset("wikics", tmp_path)
    assert expected_files("tolokers", tmp_path) == [tmp_path / "tolokers" / "raw" / "tolokers.npz"]


def test_unparsable_graph_file(tmp_path):
    p = expected_files("tolokers", tmp_path)[0]
    p.parent.mkdir(parents=True)
    p.write_bytes(b"this is not an npz file")
    with pytest.raises(ValueError, match="tolokers.npz"):
        load_dataset("tolokers", tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="citeseer"):
        load_dataset("imagenet")


def test_synthetic_graphs_have_planted_labels():
    g = sbm_graph(200, 4, 10, 0.9, seed=0)
    assert g.num_nodes == 200 and g.num_classes == 4 and g.x.shape == (200, 16)
    coo = g.adj.tocoo()
    inside = (g.y.numpy()[coo.row] == g.y.numpy()[coo.col]).mean()
    assert inside > 0.8
    lfr = lfr_graph(250, 0.1, seed=0)
    assert lfr.num_nodes == 250 and lfr.num_classes >= 2


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_gnn_learns_sbm_from_few_labels(model):
    g = sbm_graph(200, 4, 10, 0.9, noise=1.0, seed=0)
    idx = np.concatenate([np.flatnonzero(g.y.numpy() == c)[:3] for c in range(4)])
    r = evaluate_selection(g, idx, TrainConfig(model=model, epochs=60), seed=0)
    assert r["accuracy"] > 0.8 and 0 <= r["macro_f1"] <= 1
    r_all = evaluate_selection(g, idx, TrainConfig(model=model, epochs=60), seed=0, eval_on="all")
    assert r_all["accuracy"] != r["accuracy"] or r_all["accuracy"] == 1.0


def test_protocol_bad_input():
    g = sbm_graph(60, 2, 6, 0.9, seed=0)
    with pytest.raises(ValueError, match="empty"):
        evaluate_selection(g, [], TrainConfig(epochs=1), 0)
    with pytest.raises(ValueError, match="duplicates"):
        evaluate_selection(g, [1, 1], TrainConfig(epochs=1), 0)
    with pytest.raises(ValueError, match="eval_on"):
        evaluate_selection(g, [1, 2], TrainConfig(epochs=1), 0, eval_on="test")


def test_sparse_feature_path_equals_dense():
    import torch

    from apps.spa_graph.models import build_model

    g = sbm_graph(80, 3, 6, 0.9, seed=0)
    x = g.x * (torch.rand_like(g.x) < 0.05)
    torch.manual_seed(0)
    m = build_model("gcn", x.shape[1], 3, dropout=0.0)
    out_d = m(x, g.edge_index)
    out_d.square().sum().backward()
    gd = m.conv1.lin.lin.weight.grad.clone()
    m.zero_grad()
    out_s = m(x.to_sparse_csr(), g.edge_index)
    out_s.square().sum().backward()
    torch.testing.assert_close(out_s, out_d, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m.conv1.lin.lin.weight.grad, gd, rtol=1e-4, atol=1e-5)


def test_broken_planetoid_file_is_named(tmp_path):
    from apps.spa_graph.data.datasets import PACKAGED

    files = expected_files("cora", tmp_path)
    for p in files:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes((PACKAGED / "planetoid" / p.name).read_bytes())
    files[6].write_bytes(b"")                          # ind.cora.graph emptied
    assert files[6].name == "ind.cora.graph"
    with pytest.raises(ValueError, match="empty") as e:
        load_dataset("cora", tmp_path)
    msg = str(e.value)
    assert "ind.cora.graph" in msg and "ind.cora.allx" not in msg
    files[6].write_bytes((PACKAGED / "planetoid" / "ind.cora.graph").read_bytes()[:500])   # truncated
    with pytest.raises(ValueError, match="ind.cora.graph"):
        load_dataset("cora", tmp_path)
    files[6].write_bytes((PACKAGED / "planetoid" / "ind.cora.graph").read_bytes())
    assert load_dataset("cora", tmp_path).num_nodes == 2708           # a user root in PyG's layout


def test_grouped_macro_f1_follows_graphparts_groups():
    from apps.spa_graph.protocol import grouped_macro_f1

    n = 25                                             # groups of 25 // 10 + 1 = 3 nodes (9 groups)
    feats = np.arange(n, dtype=np.float64)[:, None]    # distance to node 0 = the id
    y = np.array([0, 1, 1] * 8 + [0])
    pred = y.copy()
    assert grouped_macro_f1(y, pred, feats, [0]) == pytest.approx(1.0)
    pred[1] = 0                                        # one error in the first group only
    from sklearn.metrics import f1_score
    first = f1_score(y[:3], pred[:3], average="macro")
    assert grouped_macro_f1(y, pred, feats, [0]) == pytest.approx((first + 8 * 1.0) / 9)


def test_paper_protocol_defaults_and_epochs_validation():
    """TrainConfig's keyword defaults (for library callers) equal configs/train.yaml, the one default."""
    from apps.spa_graph.recipe import default_settings

    assert TrainConfig() == default_settings().train
    cfg = TrainConfig()
    assert cfg.dropout == 0.0 and cfg.epochs == 300
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="epochs"):
            TrainConfig(epochs=bad)
    g = sbm_graph(60, 2, 6, 0.9, seed=0)
    r = evaluate_selection(g, [1, 2, 40, 41], TrainConfig(epochs=5), 0)
    assert set(r) == {"accuracy", "macro_f1", "grouped_macro_f1", "train_s"} and 0 <= r["grouped_macro_f1"] <= 1


@pytest.mark.parametrize("model", ["gcn", "sage"])
def test_graph_operator_path_equals_pyg_layers(model):
    """The GraphOperator path (large graphs, every SAGE model) computes PyG's layers: same outputs and gradients,
    dense or sparse-CSR features."""
    import torch

    from apps.spa_graph.models import build_model
    from apps.spa_graph.models.gnn import GraphOperator
    from apps.spa_graph.graph import clean_adjacency

    g = sbm_graph(90, 3, 6, 0.9, seed=0)
    ei = np.concatenate([g.edge_index.numpy(), [[5], [5]]], axis=1)      # isolated-free; node 89 made isolated below
    keep = (ei[0] != 89) & (ei[1] != 89)
    adj = clean_adjacency(ei[:, keep], 90).adj
    edge_index = torch.from_numpy(np.stack(adj.nonzero()).astype(np.int64))
    x = g.x * (torch.rand_like(g.x) < 0.2)
    op = GraphOperator.for_model(model, adj)
    for feats in (x, x.to_sparse_csr()):
        torch.manual_seed(0)
        m = build_model(model, x.shape[1], 3, dropout=0.0)
        ref = m(x, edge_index)
        ref.square().sum().backward()
        want = [p.grad.clone() for p in m.parameters()]
        m.zero_grad()
        out = m(feats, op)
        out.square().sum().backward()
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
        for p, w in zip(m.parameters(), want):
            torch.testing.assert_close(p.grad, w, rtol=1e-4, atol=1e-5)
