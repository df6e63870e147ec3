"""SCAN communities exactly as cdlib returns them: membership, member order and community order.

The official SPA notebook (rickymaulanafajri/SPA, SPA.ipynb, class ``SCANPageRankOptimized``) calls
``cdlib.algorithms.scan(G, epsilon=0.5, mu=3)`` and loops over ``partition.communities``. What that list
is, read from cdlib 0.4.1 (``cdlib/algorithms/internal/scan.py``, ``SCAN_nx.execute``, and
``NodeClustering`` / ``Clustering.__init__``, which sorts communities by size):

1. Nodes are visited in ``random.shuffle(list(G.nodes))`` order (Python's global ``random``; the
   notebook seeds it with ``random.seed(seed)`` in ``test()`` and nothing else draws from it before).
2. An unclassified core (>= mu eps-neighbours, the node itself not counted) starts a community, grown
   breadth-first (FIFO) over eps-edges: every unclassified eps-neighbour of a core joins, cores are
   expanded. So a border node eps-adjacent to cores of two clusters joins the one discovered first
   (our vectorized ``scan.scan`` gives it to the most similar core instead: the only difference).
3. ``Clustering`` sorts the communities by size, largest first; Python's sort is stable, so equal
   sizes keep the discovery order. Members stay in BFS order (this decides PageRank ties).

We reproduce this with our vectorized similarity and core test (no Python loop over edges) and one
Python pass over the shuffled nodes and the eps-edges of the communities (cheap: only cores expand).
"""
from __future__ import annotations

import random
from collections import deque

import numpy as np
import scipy.sparse as sp

from apps.spa_graph.scan import check_scan_params, structural_similarity

__all__ = ["cdlib_visit_order", "cdlib_scan_communities"]


def cdlib_visit_order(num_nodes: int, seed: int) -> list[int]:
    """The node order cdlib's SCAN visits after ``random.seed(seed)``: ``random.shuffle(list(range(N)))``."""
    order = list(range(int(num_nodes)))
    random.Random(seed).shuffle(order)     # Random(seed) draws exactly what random.seed(seed) + random.shuffle do
    return order


def cdlib_scan_communities(adj: sp.csr_matrix, eps: float = 0.5, mu: int = 3, seed: int = 0,
                           similarity: sp.csr_matrix | None = None) -> list[np.ndarray]:
    """(N, N) clean adjacency -> communities as cdlib 0.4.1's ``algorithms.scan(G, eps, mu).communities``
    after ``random.seed(seed)`` on ``G = nx.from_numpy_array(A)``: largest first, members in BFS order.

    ``similarity``: a precomputed ``structural_similarity(adj)`` (it does not depend on the seed).
    """
    eps, mu = check_scan_params(eps, mu)
    sim = structural_similarity(adj) if similarity is None else sp.csr_matrix(similarity)
    n = sim.shape[0]
    # eps-neighbours per node, ascending id (networkx's neighbour order for from_numpy_array)
    coo = sim.tocoo()
    keep = coo.data >= eps                      # cdlib compares the float similarity with eps exactly
    eps_adj = sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.int8), (coo.row[keep], coo.col[keep])), shape=(n, n))
    eps_adj.sort_indices()
    indptr, indices = eps_adj.indptr, eps_adj.indices
    core = np.diff(indptr) >= mu                # cdlib: len(eps-neighbours) >= mu, self not counted
    classified = np.zeros(n, dtype=bool)
    comms: list[list[int]] = []
    for u in cdlib_visit_order(n, seed):        # loop over nodes: only cores start work
        if classified[u] or not core[u]:
            continue
        comm = [u]
        classified[u] = True
        queue = deque(indices[indptr[u]:indptr[u + 1]].tolist())
        while queue:                            # BFS over the community's eps-edges
            t = queue.popleft()
            if not classified[t]:
                classified[t] = True
                comm.append(t)
            if not core[t]:
                continue
            for r in indices[indptr[t]:indptr[t + 1]].tolist():
                if not classified[r]:
                    classified[r] = True
                    comm.append(r)
                    queue.append(r)
        comms.append(comm)
    comms.sort(key=len, reverse=True)           # Clustering.__init__: by size, stable
    return [np.asarray(c, dtype=np.int64) for c in comms]
