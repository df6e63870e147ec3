"""The planted power-law generator and the lean CSR builder: deterministic by seed, a clean symmetric graph,
the degrees and communities it promises, and bad arguments refused."""
import numpy as np
import pytest

from apps.spa_graph.csr import CSRGraph
from apps.spa_graph.csr_build import csr_from_edges
from apps.spa_graph.graph import clean_adjacency
from apps.spa_graph.graphgen import community_sizes, planted_powerlaw_edges, planted_powerlaw_graph


def _assert_clean(g: CSRGraph):
    a = g.to_scipy()
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    for u in range(0, g.num_nodes, max(1, g.num_nodes // 200)):     # rows sorted, no duplicates
        row = g.indices[g.indptr[u]:g.indptr[u + 1]]
        assert np.all(np.diff(row) > 0)


def test_same_seed_same_graph_other_seed_other_graph():
    a = planted_powerlaw_graph(20_000, seed=7)
    b = planted_powerlaw_graph(20_000, seed=7)
    c = planted_powerlaw_graph(20_000, seed=8)
    np.testing.assert_array_equal(a.graph.indptr, b.graph.indptr)
    np.testing.assert_array_equal(a.graph.indices, b.graph.indices)
    np.testing.assert_array_equal(a.community_starts, b.community_starts)
    assert not np.array_equal(a.graph.indices[:1000], c.graph.indices[:1000])


def test_graph_is_clean_with_power_law_degrees_and_planted_communities():
    pg = planted_powerlaw_graph(200_000, seed=1)
    g = pg.graph
    _assert_clean(g)
    assert pg.num_nodes == 25_000                          # N = 2 E / mean_degree
    deg = g.degrees()
    assert 10 < 2 * pg.input_edges / pg.num_nodes == 16
    assert 0.6 * pg.input_edges < pg.num_edges < pg.input_edges   # duplicates and loops dropped
    assert deg.max() > 10 * deg.mean()                     # a heavy tail
    assert np.median(deg) < deg.mean()
    sizes = np.diff(pg.community_starts)
    assert sizes.sum() == pg.num_nodes and sizes.min() >= 16 and sizes.max() <= 1024
    lab = pg.communities()
    rows = np.repeat(np.arange(g.num_nodes), deg)
    inside = (lab[rows] == lab[g.indices]).mean()
    assert 0.7 < inside < 0.9                              # mixing 0.2: about 80 % of edges inside communities


def test_random_relabelling_is_a_permutation_of_the_same_graph():
    a = planted_powerlaw_graph(20_000, seed=3)
    b = planted_powerlaw_graph(20_000, seed=3, relabel="random")
    _assert_clean(b.graph)
    perm = b.perm
    assert sorted(perm.tolist()) == list(range(a.num_nodes))
    np.testing.assert_array_equal(b.graph.degrees()[perm], a.graph.degrees())
    u = np.repeat(np.arange(a.num_nodes), a.graph.degrees())
    ea = set(zip(perm[u].tolist(), perm[a.graph.indices].tolist()))
    ub = np.repeat(np.arange(b.num_nodes), b.graph.degrees())
    assert ea == set(zip(ub.tolist(), b.graph.indices.tolist()))
    np.testing.assert_array_equal(b.communities()[perm], a.communities())


def test_csr_builder_equals_clean_adjacency():
    rng = np.random.default_rng(0)
    u = rng.integers(0, 300, 5000).astype(np.int32)
    v = rng.integers(0, 300, 5000).astype(np.int32)
    g = csr_from_edges(u, v, 305)                          # 5 isolated ids at the end
    ref = clean_adjacency(np.stack([u, v]), 305).adj
    np.testing.assert_array_equal(g.indptr, ref.indptr)
    np.testing.assert_array_equal(g.indices, ref.indices)
    back = CSRGraph.from_scipy(g.to_scipy(), check=True)
    np.testing.assert_array_equal(back.indices, g.indices)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        csr_from_edges(np.array([0, 12], dtype=np.int32), np.array([1, 2], dtype=np.int32), 10)


@pytest.mark.parametrize("relabel", ["community", "random"])
def test_both_csr_builders_give_the_same_graph(relabel):
    a = planted_powerlaw_graph(30_000, seed=4, relabel=relabel, build="scipy").graph
    b = planted_powerlaw_graph(30_000, seed=4, relabel=relabel, build="compiled").graph
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.dtype == b.indices.dtype == np.int32
    with pytest.raises(ValueError, match="build"):
        planted_powerlaw_graph(1000, build="fast")


def test_save_and_load_round_trip(tmp_path):
    g = planted_powerlaw_graph(5_000, seed=2).graph
    h = CSRGraph.load(g.save(tmp_path / "g"))
    np.testing.assert_array_equal(h.indptr, g.indptr)
    np.testing.assert_array_equal(h.indices, g.indices)


def test_community_sizes_cover_the_nodes():
    rng = np.random.default_rng(0)
    for n in (40, 1000, 123_457):
        s = community_sizes(n, 16, 1024, 2.0, rng)
        assert s.sum() == n and s.min() >= min(16, n) and s.max() <= 1024 + 16


@pytest.mark.parametrize("kw,msg", [
    (dict(num_edges=0), "num_edges"), (dict(num_edges=10.5), "num_edges"), (dict(mean_degree=0), "mean_degree"),
    (dict(degree_exponent=2.0), "degree_exponent"), (dict(mixing=1.5), "mixing"),
    (dict(min_community=50, max_community=10), "min_community"), (dict(relabel="sorted"), "relabel"),
])
def test_bad_arguments(kw, msg):
    args = dict(num_edges=1000) | kw
    with pytest.raises(ValueError, match=msg):
        planted_powerlaw_graph(**args)


def test_edges_are_int32_samples_of_the_requested_count():
    u, v, starts, n = planted_powerlaw_edges(12_345, seed=0)
    assert u.dtype == v.dtype == np.int32 and len(u) == len(v) == 12_345
    assert u.min() >= 0 and max(u.max(), v.max()) < n and starts[-1] == n
