"""The compiled SCAN (numba) against the numpy reference, the BFS reference and cdlib: identical labels, roles,
clusters and cores on Cora, CiteSeer and generated graphs, for several eps / mu."""
import networkx as nx
import numba
import numpy as np
import pytest

from apps.spa_graph.csr import CSRGraph
from apps.spa_graph.data import load_dataset
from apps.spa_graph.graph import clean_adjacency
from apps.spa_graph.graphgen import planted_powerlaw_graph
from apps.spa_graph.scan import CORE, scan, scan_reference, structural_similarity
from apps.spa_graph.scan_compiled import common_counts, edge_sigma, scan_csr, scan_from_counts

GRID = [(eps, mu) for eps in (0.3, 0.5, 0.62, 0.8) for mu in (1, 2, 3, 5)]


def _same(a, b):
    assert a.num_clusters == b.num_clusters
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.roles, b.roles)


@pytest.fixture(scope="module", params=["cora", "citeseer"])
def planetoid(request, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:       # packaged graphs staged into a per-module cache
        mp.setenv("SPARSELAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset(request.param)


@pytest.fixture(scope="module", params=[("community", 3), ("random", 4)])
def generated(request):
    relabel, seed = request.param
    return planted_powerlaw_graph(30_000, relabel=relabel, seed=seed)


def test_compiled_equals_numpy_reference_on_planetoid(planetoid):
    adj = planetoid.adj
    counts = common_counts(adj)
    for eps, mu in GRID:
        for inc in (False, True):
            _same(scan_from_counts(adj, counts, eps, mu, inc), scan(adj, eps, mu, inc, engine="numpy"))


def test_compiled_equals_numpy_reference_on_generated_graphs(generated):
    g = generated.graph
    adj = g.to_scipy()
    sim = structural_similarity(adj, "rows")
    counts = common_counts(g)
    for eps, mu in GRID:
        for inc in (False, True):
            ref = scan(adj, eps, mu, inc, similarity=sim)
            _same(scan_from_counts(g, counts, eps, mu, inc), ref)
    assert scan(adj, 0.5, 3).num_clusters > 10          # non-trivial clusters at the SPA setting


@pytest.mark.parametrize("gseed", range(6))
def test_compiled_equals_bfs_reference_on_small_graphs(gseed):
    rng = np.random.default_rng(gseed)
    n = int(rng.integers(8, 45))
    g = nx.gnp_random_graph(n, float(rng.uniform(0.05, 0.4)), seed=gseed)
    if gseed % 2 == 0:
        g = nx.planted_partition_graph(3, n // 3, 0.7, 0.05, seed=gseed)
        n = g.number_of_nodes()
    adj = clean_adjacency(np.array(list(g.edges()), dtype=np.int64).T.reshape(2, -1), n).adj
    nb = {u: set(g[u]) for u in range(n)}
    for eps, mu in GRID:
        for inc in (False, True):
            _same(scan(adj, eps, mu, inc, engine="compiled"), scan_reference(nb, eps, mu, inc))


def test_sigma_is_bitwise_the_reference_and_count_methods_agree(planetoid, generated):
    for adj in (planetoid.adj, generated.graph.to_scipy()):
        ref = structural_similarity(adj, "rows")
        np.testing.assert_array_equal(ref.indptr, adj.indptr)
        np.testing.assert_array_equal(edge_sigma(adj), ref.data)          # bit for bit: the eps test cannot differ
        np.testing.assert_array_equal(structural_similarity(adj, "compiled").data, ref.data)
        np.testing.assert_array_equal(common_counts(adj, "merge"), common_counts(adj, "mark"))
    with pytest.raises(ValueError, match="method"):
        common_counts(planetoid.adj, "hash")


def test_counts_are_triangles_per_edge_with_galloping_hubs():
    g = nx.barabasi_albert_graph(3000, 3, seed=1)          # hubs of degree >> 32x the leaves: galloping search
    g.add_edges_from((0, v) for v in range(1, 3000, 2))   # one hub adjacent to half the graph
    adj = clean_adjacency(np.array(list(g.edges())).T, 3000).adj
    counts = common_counts(adj, "merge")
    np.testing.assert_array_equal(counts, common_counts(adj, "mark"))
    tri = nx.triangles(g)
    assert counts.sum() == 6 * sum(tri.values()) // 3      # each triangle on its 3 edges, both directions


def test_union_find_merges_clusters_across_thread_blocks():
    # a ring (each node tied to the next 3): one cluster whose eps-edges cross every block boundary
    n = 240
    adj = clean_adjacency(np.array(list(nx.circulant_graph(n, [1, 2, 3]).edges())).T, n).adj
    old = numba.get_num_threads()
    try:
        got = []
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(t)
            got.append(scan_csr(adj, 0.5, 2))
    finally:
        numba.set_num_threads(old)
    ref = scan(adj, 0.5, 2, engine="numpy")
    for r in got:
        _same(r, ref)
    assert ref.num_clusters == 1 and (ref.roles == CORE).all()


def test_csr_graph_input_and_engine_errors(planetoid):
    g = CSRGraph.from_scipy(planetoid.adj, check=True)
    _same(scan(g, 0.5, 3), scan(planetoid.adj, 0.5, 3, engine="numpy"))
    with pytest.raises(ValueError, match="engine"):
        scan(planetoid.adj, 0.5, 3, engine="fast")
    with pytest.raises(ValueError, match="CSRGraph"):
        scan(g, 0.5, 3, engine="numpy")
    with pytest.raises(ValueError, match="similarity"):
        scan(planetoid.adj, 0.5, 3, engine="compiled", similarity=structural_similarity(planetoid.adj))
    with pytest.raises(ValueError, match="eps"):
        scan_csr(g, 0.0, 3)
    with pytest.raises(ValueError, match="counts"):
        scan_from_counts(g, np.zeros(3, dtype=np.int32), 0.5, 3)


def _cdlib_check(adj, eps, mu, ours):
    """cdlib's SCAN (visit order: random.seed(0)) against ours: the same cores, the same clusters of cores, the same
    members; a border node may sit in another cluster than ours only when it is eps-adjacent to a core of it
    (cdlib gives it to the cluster discovered first, we to the most similar core, as ``scan`` documents)."""
    import random

    from cdlib import algorithms

    g = nx.from_scipy_sparse_array(adj)
    random.seed(0)
    comms = algorithms.scan(g, epsilon=eps, mu=mu).communities
    core = ours.roles == CORE
    assert len(comms) == ours.num_clusters
    members = np.zeros(adj.shape[0], dtype=bool)
    sim = structural_similarity(adj, "rows")
    for c in comms:
        c = np.asarray(c)
        members[c] = True
        cores = c[core[c]]
        assert len(cores) and len(np.unique(ours.labels[cores])) == 1          # one cluster of ours ...
        lab = ours.labels[cores[0]]
        np.testing.assert_array_equal(np.sort(cores), np.flatnonzero(core & (ours.labels == lab)))   # ... exactly
        for b in c[~core[c]]:                                                     # borders: eps-adjacent to a core
            row = sim[b]
            assert any(core[v] and row[0, v] >= eps - 1e-9 for v in row.indices if ours.labels[v] == lab)
    np.testing.assert_array_equal(members, ours.labels >= 0)


@pytest.mark.parametrize("eps,mu", [(0.5, 3), (0.4, 2), (0.7, 4)])
def test_compiled_equals_cdlib_on_planetoid(planetoid, eps, mu):
    pytest.importorskip("cdlib", reason="cdlib (optional `peers` extra) not installed")
    _cdlib_check(planetoid.adj, eps, mu, scan(planetoid.adj, eps, mu, engine="compiled"))


def test_compiled_equals_cdlib_on_a_generated_graph():
    pytest.importorskip("cdlib", reason="cdlib (optional `peers` extra) not installed")
    adj = planted_powerlaw_graph(6_000, seed=5).graph.to_scipy()
    for eps, mu in ((0.5, 3), (0.35, 2)):
        _cdlib_check(adj, eps, mu, scan(adj, eps, mu, engine="compiled"))
