"""What ``fidelity=official`` reproduces of GraphPart's code (Mars-tin/GraphPart, commit faeb10f), and what
``fidelity=corrected`` does instead (what the method means, with today's library defaults).

| piece | official (GraphPart's code, the SPA paper's era) | corrected |
|---|---|---|
| PageRank scores (PageRank baseline, AGE's centrality) | ``list(pagerank(data.g).values())``: values in the insertion order of ``data.g``, read as if position i were node i (query.py 480, 512) | node i's own PageRank |
| k-means (FeatProp, GraphPart(Far), AGE's density) | ``KMeans(k, init='k-means++', random_state=seed)`` with scikit-learn < 1.3: ``n_init=10`` and k-means++'s first centre drawn by ``randint`` | today's scikit-learn defaults (1.4+: ``n_init='auto'``, one k-means++ run) |
| GraphPartFar's first part | no earlier pick: distance inf, the map -inf or NaN, ``argmin`` takes the part's lowest ids (query.py 642-654) | no compensation in the first part |
| random draws (Random, the b // 3 warm start of Uncertainty / AGE) | ``np.random.seed(seed)``, ``np.random.shuffle(arange(N))`` (main.py's warm-start order), then ``np.random.choice`` | ``numpy.random.default_rng(seed)`` |

``data.g`` (dataset.py 67-71, 122-123) is a networkx graph built from ``adj_t``'s (row, col) pairs in CSR order, so
its nodes are in order of first appearance (CiteSeer: 0, 628, 1, 158, ...); the self loops added last bring the
isolated nodes in at the end, ascending. PageRank's values do not depend on that order, their positions do.

The era's k-means++ (scikit-learn 1.2.2 ``_kmeans_plusplus``, our code): first centre ``random_state.randint(n)``
(1.3 changed it to a weighted ``choice``, which draws another node from the same seed), then per centre
``2 + int(log k)`` candidates sampled against the cumulative squared distance, the one lowering the potential most
kept. Passed to today's ``KMeans`` as ``init=`` with ``n_init=10``, it runs the same ten Lloyd runs from the same
random stream as scikit-learn 1.2.2 (a test compares labels and centres with 1.2.2's own output).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

__all__ = ["FIDELITY", "graphpart_node_order", "positional_scores", "legacy_kmeans_plusplus", "kmeans",
           "legacy_permutation", "official_random", "N_INIT_OFFICIAL"]

FIDELITY = ("official", "corrected")
N_INIT_OFFICIAL = 10


def graphpart_node_order(adj: sp.csr_matrix) -> np.ndarray:
    """(N, N) clean adjacency -> (N,) the node order of GraphPart's ``data.g``: first appearance over the (row, col)
    pairs in CSR order, then the nodes without edges (their self loops are added last), ascending."""
    a = sp.csr_matrix(adj)
    n = a.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(a.indptr))
    seq = np.empty(2 * len(rows), dtype=np.int64)
    seq[0::2], seq[1::2] = rows, a.indices               # (u, v) of each edge, in order
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, seq, np.arange(len(seq)))
    seen = first < np.iinfo(np.int64).max
    order = np.flatnonzero(seen)[np.argsort(first[seen], kind="stable")]
    return np.concatenate([order, np.flatnonzero(~seen)])


def positional_scores(values: np.ndarray, adj: sp.csr_matrix) -> np.ndarray:
    """(N,) per-node values -> (N,) what GraphPart's ``list(pagerank(data.g).values())`` hands to node i: the value of
    the i-th node of ``data.g``'s insertion order."""
    return np.asarray(values)[graphpart_node_order(adj)]


def legacy_kmeans_plusplus(x: np.ndarray, n_clusters: int, random_state) -> np.ndarray:
    """scikit-learn 1.2.2's k-means++ seeding (greedy, ``2 + int(log k)`` local trials), for ``KMeans(init=...)``:
    x (M, F) (already centred by KMeans) -> (k, F) initial centres."""
    from sklearn.metrics.pairwise import _euclidean_distances
    from sklearn.utils.extmath import row_norms

    n_samples, n_features = x.shape
    x_sq = row_norms(x, squared=True)
    centers = np.empty((n_clusters, n_features), dtype=x.dtype)
    n_local_trials = 2 + int(np.log(n_clusters))
    center_id = random_state.randint(n_samples)                  # 1.2.2: uniform first centre
    centers[0] = x[center_id]
    closest = _euclidean_distances(centers[0, np.newaxis], x, Y_norm_squared=x_sq, squared=True)
    pot = closest.sum()
    for c in range(1, n_clusters):                               # loop over centres (k), not nodes
        rand_vals = random_state.uniform(size=n_local_trials) * pot
        cand = np.searchsorted(np.cumsum(closest, dtype=np.float64), rand_vals)
        np.clip(cand, None, closest.size - 1, out=cand)
        dist = _euclidean_distances(x[cand], x, Y_norm_squared=x_sq, squared=True)
        np.minimum(closest, dist, out=dist)
        cand_pot = dist.sum(axis=1)
        best = int(np.argmin(cand_pot))
        pot, closest = cand_pot[best], dist[best]
        centers[c] = x[cand[best]]
    return centers


def kmeans(feats: np.ndarray, k: int, seed: int, fidelity: str) -> KMeans:
    """k-means with k-means++ and ``random_state=seed`` on feats (M, F), one thread (OpenMP k-means oversubscribes a
    shared CPU): ``official`` = scikit-learn < 1.3 (``n_init=10``, its seeding), ``corrected`` = today's defaults."""
    if fidelity not in FIDELITY:
        raise ValueError(f"fidelity={fidelity!r}; choose one of {list(FIDELITY)}")
    with threadpool_limits(1):
        if fidelity == "official":
            km = KMeans(n_clusters=k, init=legacy_kmeans_plusplus, n_init=N_INIT_OFFICIAL, random_state=seed)
        else:
            km = KMeans(n_clusters=k, random_state=seed)
        return km.fit(feats)


def legacy_permutation(n: int, seed: int) -> tuple[np.ndarray, np.random.RandomState]:
    """GraphPart's main.py after ``np.random.seed(seed)``: ``initial_mask = np.arange(N); np.random.shuffle(...)``
    -> (the shuffled ids, the generator in the state its query then draws from)."""
    rs = np.random.RandomState(seed)
    perm = np.arange(n)
    rs.shuffle(perm)
    return perm, rs


def official_random(candidates: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """GraphPart's ``Random.query`` after main.py's shuffle: ``np.random.choice(unlabelled, b, replace=False)``."""
    _, rs = legacy_permutation(len(candidates), seed)
    return rs.choice(np.flatnonzero(candidates), budget, replace=False).astype(np.int64)
