import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from apps.spa_graph.graph import clean_adjacency, normalized_adjacency, propagate_features
from apps.spa_graph.pagerank import pagerank


def test_clean_symmetrizes_dedups_and_drops_loops_with_notes():
    ei = np.array([[0, 0, 1, 2, 2, 3], [1, 1, 2, 2, 0, 1]])
    g = clean_adjacency(torch.as_tensor(ei), 5)
    a = g.adj.toarray()
    assert (a == a.T).all() and a.diagonal().sum() == 0 and set(np.unique(a)) <= {0, 1}
    assert g.num_edges == 4          # {0-1, 1-2, 0-2, 1-3}
    text = " ".join(g.notes)
    assert "self loop" in text and "duplicate" in text and "symmetrized" in text and "isolated" in text


@pytest.mark.parametrize("ei,n,msg", [
    (np.zeros((3, 2), dtype=int), 4, "shape"),
    (np.array([[0, 5], [1, 2]]), 4, "outside"),
    (np.array([[0.5, 1.0], [1.0, 2.0]]), 4, "integers"),
    (np.array([[0], [1]]), 0, "num_nodes"),
])
def test_clean_rejects_bad_edges(ei, n, msg):
    with pytest.raises(ValueError, match=msg):
        clean_adjacency(ei, n)


def test_pagerank_matches_networkx_with_dangling_nodes():
    g = nx.gnp_random_graph(40, 0.08, seed=3)
    g.add_nodes_from(range(40, 43))   # isolated (dangling) nodes
    adj = nx.to_scipy_sparse_array(g, nodelist=range(43), format="csr")
    for d in (0.85, 0.95):
        ref = nx.pagerank(g, alpha=d, max_iter=5000, tol=1e-12)
        got = pagerank(sp.csr_matrix(adj), d, tol=1e-12, max_iter=5000)
        np.testing.assert_allclose(got, [ref[i] for i in range(43)], atol=1e-8)
        assert got.sum() == pytest.approx(1.0)


def test_pagerank_bad_damping():
    with pytest.raises(ValueError, match="damping"):
        pagerank(sp.csr_matrix(np.ones((2, 2))), 1.0)


def test_propagation_is_symmetric_normalized_two_hops():
    ei = np.array([[0, 1], [1, 2]])
    adj = clean_adjacency(ei, 3).adj
    s = normalized_adjacency(adj).toarray()
    a = adj.toarray() + np.eye(3)
    d = a.sum(1)
    np.testing.assert_allclose(s, a / np.sqrt(np.outer(d, d)), rtol=1e-6)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_allclose(propagate_features(adj, x, 2), s @ s @ x, rtol=1e-5)
