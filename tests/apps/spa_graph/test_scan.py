import networkx as nx
import numpy as np
import pytest

from apps.spa_graph.graph import clean_adjacency
from apps.spa_graph.scan import BORDER, CORE, HUB, OUTLIER, scan, scan_reference, structural_similarity
from tests.apps.spa_graph.conftest import hand_graph_edges


def _nb(g, n):
    return {u: set(g[u]) for u in range(n)}


@pytest.mark.parametrize("gseed", range(12))
def test_matches_reference_on_random_graphs(gseed):
    rng = np.random.default_rng(gseed)
    n = int(rng.integers(8, 45))
    g = nx.gnp_random_graph(n, float(rng.uniform(0.05, 0.4)), seed=gseed)
    if gseed % 3 == 0:   # planted communities for non-trivial clusters
        g = nx.planted_partition_graph(3, n // 3, 0.7, 0.05, seed=gseed)
        n = g.number_of_nodes()
    adj = clean_adjacency(np.array(list(g.edges()), dtype=np.int64).T.reshape(2, -1), n).adj
    for eps in (0.3, 0.5, 0.62, 0.8):
        for mu in (1, 2, 3, 5):
            for inc in (False, True):
                got, ref = scan(adj, eps, mu, inc), scan_reference(_nb(g, n), eps, mu, inc)
                assert got.num_clusters == ref.num_clusters
                np.testing.assert_array_equal(got.labels, ref.labels)
                np.testing.assert_array_equal(got.roles, ref.roles)


def test_similarity_formula_on_an_edge():
    ei, n = hand_graph_edges()
    sim = structural_similarity(clean_adjacency(ei, n).adj)
    # (0,1): N[0]={0,1,2,3,8}, N[1]={0,1,2,3} -> 4 / sqrt(5*4)
    assert sim[0, 1] == pytest.approx(4 / np.sqrt(20))
    assert sim[3, 4] == pytest.approx(2 / np.sqrt(30))
    assert sim[1, 2] == pytest.approx(1.0)
    assert (sim != sim.T).nnz == 0


def test_hand_checked_graph():
    ei, n = hand_graph_edges()
    adj = clean_adjacency(ei, n).adj
    r = scan(adj, eps=0.7, mu=3)
    assert r.num_clusters == 2
    np.testing.assert_array_equal(r.labels, [0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1])
    assert list(r.roles) == [CORE] * 8 + [HUB, OUTLIER, OUTLIER]
    # sigma(7, 9) = 2 / sqrt(10) = 0.632: at eps = 0.6 the pendant node becomes a border member
    r = scan(adj, eps=0.6, mu=3)
    assert r.labels[9] == 1 and r.roles[9] == BORDER
    # cdlib's mu=3 without self equals the original mu=4 with self
    a, b = scan(adj, 0.7, 3, include_self=False), scan(adj, 0.7, 4, include_self=True)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert [len(c) for c in r.communities()] == [4, 5]


def test_isolated_node_with_mu_one_and_self_is_its_own_cluster():
    ei, n = hand_graph_edges()
    r = scan(clean_adjacency(ei, n).adj, eps=0.99, mu=1, include_self=True)
    assert r.roles[10] == CORE and r.labels[10] >= 0


@pytest.mark.parametrize("eps,mu", [(0.0, 3), (1.2, 3), (-0.1, 2), (0.5, 0), (0.5, 2.5)])
def test_bad_parameters(eps, mu):
    ei, n = hand_graph_edges()
    with pytest.raises(ValueError, match="eps|mu"):
        scan(clean_adjacency(ei, n).adj, eps, mu)


def test_rejects_uncleaned_adjacency():
    import scipy.sparse as sp

    with pytest.raises(ValueError, match="self loops"):
        scan(sp.csr_matrix(np.eye(3)), 0.5, 2)


@pytest.mark.parametrize("gseed", range(4))
def test_similarity_methods_agree(gseed):
    g = nx.powerlaw_cluster_graph(120, 4, 0.5, seed=gseed)      # hubs and many triangles
    adj = clean_adjacency(np.array(list(g.edges())).T, 120).adj
    a = structural_similarity(adj, "rows").toarray()
    b = structural_similarity(adj, "wedges").toarray()
    np.testing.assert_allclose(a, b)
    tri = nx.triangles(g)
    from apps.spa_graph.scan import edge_triangles
    r, c, counts = edge_triangles(adj, chunk_wedges=50)          # many chunks
    assert counts.sum() == sum(tri.values())                     # each triangle counted on its 3 edges
    with pytest.raises(ValueError, match="method"):
        structural_similarity(adj, "fast")
