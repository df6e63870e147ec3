"""PageRank: the converged rule (L1 change < tol, power or CG) against a tight reference power iteration, the
networkx rule against networkx.pagerank, the compiled engine against the scipy reference, and bad arguments."""
import networkx as nx
import numba
import numpy as np
import pytest
import scipy.sparse as sp

from apps.spa_graph.csr import CSRGraph
from apps.spa_graph.data import load_dataset
from apps.spa_graph.graphgen import planted_powerlaw_graph
from apps.spa_graph.pagerank import is_symmetric, pagerank


@pytest.fixture(scope="module")
def cora(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARSELAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_dataset("cora").adj


@pytest.fixture(scope="module")
def big():
    """~31k nodes with isolated (dangling) ones: where networkx's N * tol rule stops far from the answer."""
    return planted_powerlaw_graph(250_000, seed=11).graph


def _reference(adj, d):
    """A tight power iteration: the scipy engine, L1 change < 1e-14."""
    return pagerank(adj, d, tol=1e-14, tol_rule="l1", engine="scipy", max_iter=20_000)


@pytest.mark.parametrize("d", [0.85, 0.95])
def test_converged_rule_is_within_1e8_of_a_tight_reference(big, d):
    ref = _reference(big.to_scipy(), d)
    assert (big.degrees() == 0).any()
    for method in ("power", "cg"):
        info = {}
        x = pagerank(big, d, tol_rule="l1", engine="compiled", method=method, info=info)
        assert np.abs(x - ref).sum() <= 1e-8, method
        assert x.sum() == pytest.approx(1.0, abs=1e-12)
        assert info["method"] == method and info["last_change"] < 1e-10
    # networkx's rule stops after a few iterations at this N: what issue 32 saw
    loose = pagerank(big, d, tol_rule="networkx", engine="compiled")
    assert np.abs(loose - ref).sum() > 1e-3


def test_cg_needs_fewer_passes_than_power(big):
    p, c = {}, {}
    pagerank(big, 0.95, tol_rule="l1", engine="compiled", method="power", info=p)
    pagerank(big, 0.95, tol_rule="l1", engine="compiled", method="cg", info=c)
    assert c["cg_iterations"] + c["power_iterations"] < p["power_iterations"]


@pytest.mark.parametrize("d", [0.85, 0.95])
def test_networkx_rule_equals_networkx_pagerank(cora, d):
    g = nx.from_scipy_sparse_array(cora)
    ref = nx.pagerank(g, alpha=d, tol=1e-6, max_iter=400)        # the official notebook's call
    ref = np.array([ref[i] for i in range(cora.shape[0])])
    for engine in ("scipy", "compiled"):
        np.testing.assert_allclose(pagerank(cora, d, engine=engine), ref, rtol=1e-9, atol=1e-15)


def test_compiled_engine_is_bitwise_the_scipy_reference_on_01_graphs(cora):
    loops = cora + sp.identity(cora.shape[0], format="csr", dtype=cora.dtype)   # GraphPart's self-loop graph
    for adj in (cora, loops):
        for rule in ("networkx", "l1"):
            a = pagerank(adj, 0.95, tol_rule=rule, engine="scipy")
            b = pagerank(adj, 0.95, tol_rule=rule, engine="compiled", method="power")
            np.testing.assert_array_equal(a, b)
    assert np.array_equal(pagerank(cora, 0.95), pagerank(cora, 0.95, engine="scipy"))   # auto: scipy when small


def test_results_do_not_depend_on_the_thread_count(big):
    old = numba.get_num_threads()
    try:
        out = []
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(t)
            out.append(pagerank(big, 0.95, tol_rule="l1", engine="compiled"))
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(out[0], out[-1])


def test_directed_and_weighted_matrices():
    g = nx.gnp_random_graph(60, 0.08, seed=3, directed=True)       # dangling nodes, not symmetric
    a = sp.csr_matrix(nx.to_scipy_sparse_array(g, nodelist=range(60), format="csr"))
    assert not is_symmetric(a)
    ref = nx.pagerank(g, alpha=0.9, tol=1e-14, max_iter=10_000)
    ref = np.array([ref[i] for i in range(60)])
    np.testing.assert_allclose(pagerank(a, 0.9, tol=1e-13, tol_rule="l1", engine="compiled"), ref, atol=1e-11)
    w = nx.Graph()
    w.add_weighted_edges_from([(0, 1, 2.0), (1, 2, 0.5), (2, 3, 1.0), (3, 0, 3.0), (0, 2, 1.5)])
    w.add_node(4)
    aw = sp.csr_matrix(nx.to_scipy_sparse_array(w, nodelist=range(5), format="csr"))
    assert is_symmetric(aw)
    ref = nx.pagerank(w, alpha=0.85, tol=1e-15, max_iter=10_000)
    ref = np.array([ref[i] for i in range(5)])
    for method in ("power", "cg"):
        np.testing.assert_allclose(pagerank(aw, 0.85, tol=1e-13, tol_rule="l1", engine="compiled", method=method),
                                   ref, atol=1e-11)


def test_csr_graph_and_scipy_inputs_agree(big):
    a = pagerank(big, 0.85, tol_rule="l1", engine="compiled")
    b = pagerank(big.to_scipy(), 0.85, tol_rule="l1", engine="compiled")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kw,msg", [
    (dict(damping=1.0), "damping"), (dict(tol_rule="relative"), "tol_rule"), (dict(engine="gpu"), "engine"),
    (dict(tol=0.0), "tol"), (dict(method="jacobi"), "method"), (dict(max_iter=0), "max_iter"),
    (dict(method="cg", tol_rule="networkx", engine="compiled"), "cg"), (dict(method="cg", engine="scipy"), "cg"),
])
def test_bad_arguments(kw, msg):
    adj = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=np.float32))
    args = dict(damping=0.85) | kw
    with pytest.raises(ValueError, match=msg):
        pagerank(adj, **args)


def test_not_converging_raises():
    adj = sp.csr_matrix(nx.to_scipy_sparse_array(nx.path_graph(50), format="csr"))
    with pytest.raises(RuntimeError, match="converge"):
        pagerank(adj, 0.99, tol=1e-15, tol_rule="l1", engine="compiled", method="power", max_iter=3)
    assert pagerank(CSRGraph.from_scipy(adj), 0.85).shape == (50,)
