"""GraphPart and GraphPartFar (Ma et al., LoG 2022), reimplemented from their description.

1. Partition: networkx greedy modularity (Clauset-Newman-Moore); while there are more than K parts,
   merge the smallest part into the part it shares most edges with (no edges: the smallest other
   part); fewer natural parts than K are kept as they are. K = clip(round(budget / 5), 1, #parts),
   unless ``num_parts`` is given.
2. Budget split evenly over the parts (the remainder to the largest parts; a part with too few
   candidates passes its surplus to the next largest).
3. In each part, k-means with b_k clusters on the propagated features S^2 X; the candidate nearest
   each centre is picked.
GraphPartFar: parts are visited largest first and a centre's pick is the nearest candidate outside
the ``far_hops``-hop neighbourhood of all earlier picks (relaxed hop by hop down to 0 when a part has
no such candidate), so receptive fields of labelled nodes overlap less.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from apps.spa_graph.selectors.common import propagated
from apps.spa_graph.selectors.context import SelectionContext, check_budget
from apps.spa_graph.selectors.featprop import kmeans_nearest

__all__ = ["modularity_partition", "merge_parts", "graphpart_select"]


def modularity_partition(adj: sp.csr_matrix) -> np.ndarray:
    """Greedy-modularity communities (networkx) -> (N,) part id, parts numbered largest first."""
    import networkx as nx

    g = nx.from_scipy_sparse_array(adj)
    comms = nx.community.greedy_modularity_communities(g)
    labels = np.empty(adj.shape[0], dtype=np.int64)
    for i, c in enumerate(comms):        # networkx returns them largest first
        labels[list(c)] = i
    return labels


def merge_parts(adj: sp.csr_matrix, labels: np.ndarray, k: int) -> np.ndarray:
    """Agglomerate parts down to ``k``: smallest part into its most connected neighbour part -> (N,) ids 0..k'-1."""
    labels = np.unique(labels, return_inverse=True)[1]
    p = int(labels.max()) + 1
    ind = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), p))
    between = (ind.T @ adj @ ind).toarray()          # (P, P) edge counts between parts
    np.fill_diagonal(between, 0)
    sizes = np.bincount(labels, minlength=p).astype(np.int64)
    alive = np.ones(p, dtype=bool)
    target = np.arange(p)
    while alive.sum() > k:                            # loop over merges (parts, not nodes)
        live = np.flatnonzero(alive)
        s = live[np.lexsort((live, sizes[live]))[0]]
        others = live[live != s]
        w = between[s, others]
        t = others[np.argmax(w)] if w.max() > 0 else others[np.lexsort((others, sizes[others]))[0]]
        between[t] += between[s]
        between[:, t] += between[:, s]
        between[t, t] = 0
        between[s], between[:, s] = 0, 0
        sizes[t] += sizes[s]
        alive[s] = False
        target[target == s] = t
    final = target[labels]
    return np.unique(final, return_inverse=True)[1]


def _split_budget(budget: int, capacity: np.ndarray) -> np.ndarray:
    """Even split of ``budget`` over parts with ``capacity`` candidates (largest parts get remainders)."""
    k = len(capacity)
    order = np.lexsort((np.arange(k), -capacity))
    share = np.zeros(k, dtype=np.int64)
    left = budget
    while left > 0:
        open_ = order[share[order] < capacity[order]]
        if not len(open_):
            break
        each = max(1, left // len(open_))
        for i in open_:                                 # loop over parts
            add = min(each, capacity[i] - share[i], left)
            share[i] += add
            left -= add
            if left == 0:
                break
    return share


def graphpart_select(ctx: SelectionContext, budget: int, seed: int = 0, far: bool = False,
                     num_parts: int | None = None, far_hops: int = 2) -> np.ndarray:
    budget = check_budget(budget, ctx.num_candidates)
    adj = ctx.data.adj
    natural = ctx.cached(("modularity",), lambda: modularity_partition(adj))
    k = int(num_parts) if num_parts is not None else int(np.clip(round(budget / 5), 1, natural.max() + 1))
    if k < 1:
        raise ValueError(f"num_parts={num_parts} must be >= 1")
    parts = ctx.cached(("parts", k), lambda: merge_parts(adj, natural, k))
    feats = propagated(ctx)
    cand = ctx.candidates
    kk = int(parts.max()) + 1
    capacity = np.bincount(parts[cand], minlength=kk)
    share = _split_budget(budget, capacity)
    picks: list[int] = []
    taken: set[int] = set()
    blocked = [np.zeros(adj.shape[0], dtype=bool) for _ in range(far_hops + 1)]  # blocked[h]: within h hops
    for part in np.lexsort((np.arange(kk), -capacity)):          # loop over parts, largest first
        if share[part] == 0:
            continue
        ids = np.flatnonzero(cand & (parts == part))
        if not far:
            picks.extend(kmeans_nearest(feats[ids], ids, int(share[part]), seed, taken))
            continue
        with threadpool_limits(1):
            km = KMeans(n_clusters=int(share[part]), n_init=1, random_state=seed).fit(feats[ids])
            dist = km.transform(feats[ids]).T                        # (b_k, M)
        for c in np.lexsort((np.arange(len(dist)), -np.bincount(km.labels_, minlength=len(dist)))):
            order = ids[np.argsort(dist[c], kind="stable")]
            for h in range(far_hops, -1, -1):                     # relax the distance constraint
                ok = order[~blocked[h][order]] if h > 0 else order
                ok = ok[~np.isin(ok, picks)]
                if len(ok):
                    v = int(ok[0])
                    break
            picks.append(v)
            taken.add(v)
            frontier = np.zeros(adj.shape[0], dtype=bool)
            frontier[v] = True
            for h in range(1, far_hops + 1):                      # nodes within h hops of v
                frontier = frontier | (adj @ frontier.astype(np.float32) > 0)
                blocked[h] |= frontier
    if len(picks) < budget:                                       # tiny parts: top up by k-means on the rest
        rest = np.flatnonzero(cand & ~np.isin(np.arange(len(cand)), picks))
        picks.extend(kmeans_nearest(feats[rest], rest, budget - len(picks), seed, set(picks)))
    return np.array(picks[:budget], dtype=np.int64)
