"""The eps/mu index (GS*-Index style): every query equals a fresh SCAN over a grid of (eps, mu), on Cora,
CiteSeer, generated graphs and small graphs with edge cases (isolated nodes, mu beyond every degree)."""
import networkx as nx
import numpy as np
import pytest

from apps.spa_graph.data import load_dataset
from apps.spa_graph.graph import clean_adjacency
from apps.spa_graph.graphgen import planted_powerlaw_graph
from apps.spa_graph.scan import CORE, scan, scan_reference
from apps.spa_graph.scan_compiled import common_counts, scan_from_counts
from apps.spa_graph.scan_index import ScanIndex
from tests.apps.spa_graph.conftest import hand_graph_edges

EPS = (0.2, 0.35, 0.5, 0.6, 0.75, 1.0)
MUS = (1, 2, 3, 5, 13)


def _same(a, b):
    assert a.num_clusters == b.num_clusters
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.roles, b.roles)


@pytest.fixture(scope="module", params=["cora", "citeseer", "generated", "generated_random_ids"])
def graph(request, tmp_path_factory):
    if request.param.startswith("generated"):
        relabel = "random" if request.param.endswith("ids") else "community"
        return planted_powerlaw_graph(40_000, seed=9, relabel=relabel).graph.to_scipy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARSELAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset(request.param).adj


def test_every_query_equals_a_fresh_scan(graph):
    counts = common_counts(graph)
    idx = ScanIndex.build(graph, counts)
    for eps in EPS:
        for mu in MUS:
            for inc in (False, True):
                got = idx.query(eps, mu, inc)
                _same(got, scan_from_counts(graph, counts, eps, mu, inc))
                assert idx.num_cores(eps, mu, inc) == int((got.roles == CORE).sum())
    for eps, mu in ((0.5, 3), (0.3, 2), (0.7, 5)):              # and the numpy reference itself
        _same(idx.query(eps, mu), scan(graph, eps, mu, engine="numpy"))


def test_index_orders(graph):
    idx = ScanIndex.build(graph)
    for u in range(0, idx.num_nodes, 97):                         # rows by sigma, largest first
        row = idx.sig_sorted[idx.indptr[u]:idx.indptr[u + 1]]
        assert np.all(np.diff(row) <= 0)
    for k in (1, 2, 3):                                           # core list k by the k-th largest sigma
        nodes = idx.core_nodes[idx.core_ptr[k]:idx.core_ptr[k + 1]]
        vals = idx.sig_sorted[idx.indptr[nodes] + k - 1]
        assert np.all(np.diff(vals) <= 0)
        assert len(nodes) == int((np.diff(idx.indptr) >= k).sum())
    assert idx.nbytes == 16 * len(idx.sig_sorted) + 8 * (idx.num_nodes + 1) + 8 * len(idx.core_ptr)


def test_small_graphs_and_edge_cases():
    ei, n = hand_graph_edges()                                    # isolated node 10, a hub, a pendant
    adj = clean_adjacency(ei, n).adj
    idx = ScanIndex.build(adj)
    nb = {u: set() for u in range(n)}
    for a, b in ei.T:
        nb[int(a)].add(int(b))
        nb[int(b)].add(int(a))
    for eps in (0.3, 0.6, 0.7, 0.99, 1.0):
        for mu in (1, 2, 3, 4, 50):
            for inc in (False, True):
                _same(idx.query(eps, mu, inc), scan_reference(nb, eps, mu, inc))
    assert idx.query(0.5, 1, include_self=True).roles[10] == CORE      # mu - 1 = 0: every node is a core
    assert idx.num_cores(0.5, 50) == 0
    with pytest.raises(ValueError, match="eps"):
        idx.query(1.5, 3)
    with pytest.raises(ValueError, match="mu"):
        idx.query(0.5, 0)


@pytest.mark.parametrize("gseed", range(4))
def test_random_small_graphs(gseed):
    g = nx.powerlaw_cluster_graph(150, 3, 0.6, seed=gseed)
    g.add_nodes_from(range(150, 155))
    adj = clean_adjacency(np.array(list(g.edges())).T, 155).adj
    idx = ScanIndex.build(adj)
    nb = {u: set(g[u]) for u in range(155)}
    for eps in (0.3, 0.45, 0.6, 0.75):
        for mu in (2, 3, 5):
            _same(idx.query(eps, mu), scan_reference(nb, eps, mu))
