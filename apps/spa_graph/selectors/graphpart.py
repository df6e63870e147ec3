"""GraphPart and GraphPartFar (Ma et al., LoG 2022) as in their code (Mars-tin/GraphPart), plus the
project's earlier reading kept as separately named variants.

Official (``graphpart``, ``graphpartfar``):
1. Partition (dataset.py 86-99, partition.py): Clauset-Newman-Moore greedy modularity on the graph of
   the edges with GraphPart's tie order (``cnm.py``; GraphPart's ``data.g`` is built from the edge
   list, so isolated nodes are in no community and keep part id 0, the largest, from
   ``torch.zeros``). If ``min(sizes) * #communities / N < 1/3`` the communities are merged by
   GraphPart's Ward-like linkage on the raw features (``agglomerative_clustering`` 229-274,
   ``community_linkage`` 276-297): cost(i, j) = ||mean_i - mean_j|| * n_i n_j / (n_i + n_j), the
   cheapest pair merged first, parts numbered by size (largest 0) at each level.
2. K = min(b, max_part) parts (query.py 612-617, ``num_centers`` = 1), ``max_part`` per dataset from
   GraphPart's data/partitions.json (cora 7, citeseer 14, pubmed 8, corafull 7) and the SPA paper's
   Table 1 (Minesweeper 8, Tolokers 7, WikiCS 7); other graphs: the number of classes (dataset.py 40).
3. Budget split evenly, the first ``b % K`` parts (the largest) one more (``split_cluster`` 188-191).
4. Per part, largest first: k-means (b_k centres, k-means++, random_state=seed; ``n_init`` by fidelity) on
   S^2 X of the part; each centre, in k-means' order, takes the nearest node of the part not taken yet
   (query.py 626-658). GraphPartFar (``compensation=1``): the distance to a centre minus the distance to the
   nearest earlier pick, both in S^2 X space, computed once per part before its centres (642-654); only when
   b > max_part (``compensation`` is 0 otherwise, 613-616).
Our departures, where their code cannot run or misbehaves (README, "Deviations"): levels their
partition file lacks (K > #communities keeps every community; K <= 2 or a graph above the threshold
is still merged by the same linkage down to K); a part with fewer nodes than its share passes the
rest on to the next parts. In their GraphPartFar the first part has no earlier pick, so the distance
is inf and the map becomes -inf (b > max_part) or NaN (b <= max_part) and ``argmin`` takes the part's
lowest ids: ``fidelity=official`` keeps that, ``corrected`` applies no compensation there. The partition is
computed inside the query and charged to its time (GraphPart precomputes it and does not time it).

Project variants (``graphpart_merge``, ``graphpartfar_hops``; the rules of this app's first version):
K = clip(round(b / 5), 1, #communities); the smallest community merged into the one it shares most edges
with (``merge_parts``, sparse); GraphPartFar: no pick within ``far_hops`` hops of an earlier one.
"""
from __future__ import annotations

import heapq
from collections import defaultdict

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from apps.spa_graph.selectors.base import Selector
from apps.spa_graph.selectors.cnm import graphpart_cnm
from apps.spa_graph.selectors.common import propagated
from apps.spa_graph.selectors.context import SelectionContext
from apps.spa_graph.selectors.featprop import kmeans_nearest, official_distances
from apps.spa_graph.selectors.fidelity import kmeans

__all__ = ["MAX_PART", "max_part", "modularity_communities", "ward_merge", "graphpart_partition",
           "merge_parts", "GraphPartSelector", "GraphPartMergeSelector", "split_even"]

MAX_PART = {"cora": 7, "citeseer": 14, "pubmed": 8, "corafull": 7, "cs": 6, "physics": 5, "arxiv": 9,
            "wikics": 7, "minesweeper": 8, "tolokers": 7}


def max_part(dataset: str, num_classes: int) -> int:
    return MAX_PART.get(str(dataset).lower(), int(num_classes))


def modularity_communities(adj: sp.csr_matrix) -> list[np.ndarray]:
    """CNM communities of the non-isolated nodes with GraphPart's tie order (``cnm.py``), largest first."""
    return graphpart_cnm(adj)


def _sqdist_rows(cent: np.ndarray, sq: np.ndarray, rows: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """(P, F) centroids -> (len(rows), P) Euclidean distances of ``rows`` to every centroid (dead: inf)."""
    d2 = sq[rows][:, None] + sq[None, :] - 2.0 * cent[rows] @ cent.T
    d = np.sqrt(np.clip(d2, 0.0, None))
    d[:, ~alive] = np.inf
    return d


def ward_merge(x: np.ndarray, communities: list[np.ndarray], k: int) -> list[np.ndarray]:
    """GraphPart's linkage merge of ``communities`` (feature rows of ``x`` (N, F)) down to ``k`` -> list of
    member arrays in list order. Memory O(P F): each row's cheapest partner is cached, and a row is
    recomputed (chunked Gram products) only when its cached partner was merged, never a dense P x P."""
    members = [np.asarray(c, dtype=np.int64) for c in communities]
    p = len(members)
    if p <= max(k, 1):
        return members
    x = np.asarray(x, dtype=np.float64)
    size = np.array([len(m) for m in members], dtype=np.float64)
    cent = np.stack([x[m].mean(0) for m in members])
    sq = (cent ** 2).sum(1)
    alive = np.ones(p, dtype=bool)
    best = np.full(p, np.inf)
    arg = np.zeros(p, dtype=np.int64)

    def refresh(rows: np.ndarray) -> None:
        for s in range(0, len(rows), 512):               # chunks of rows
            r = rows[s:s + 512]
            d = _sqdist_rows(cent, sq, r, alive) * (size[r][:, None] * size[None, :] / (size[r][:, None] + size[None, :]))
            d[np.arange(len(r)), r] = np.inf
            arg[r] = np.argmin(d, 1)                      # first occurrence, like torch.min
            best[r] = d[np.arange(len(r)), arg[r]]

    refresh(np.arange(p))
    n_alive = p
    while n_alive > k:                                    # loop over merges (parts, not nodes)
        cost = np.where(alive, best, np.inf)
        j = int(np.argmin(cost))
        i = int(arg[j])
        if i < j:                                        # GraphPart keeps the earlier position (assert i > j)
            i, j = j, i
        members[j] = np.concatenate([members[j], members[i]])
        alive[i] = False
        size[j] += size[i]
        cent[j] = x[members[j]].mean(0)
        sq[j] = cent[j] @ cent[j]
        n_alive -= 1
        stale = np.flatnonzero(alive & ((arg == i) | (arg == j)))
        refresh(np.union1d(stale, [j]))
        others = np.flatnonzero(alive)
        others = others[others != j]
        if len(others):                                  # the new part j may become someone's cheapest partner
            d = _sqdist_rows(cent, sq, np.array([j]), alive)[0, others] * (size[others] * size[j] / (size[others] + size[j]))
            better = (d < best[others]) | ((d == best[others]) & (j < arg[others]))
            best[others[better]] = d[better]
            arg[others[better]] = j
    return [members[t] for t in np.flatnonzero(alive)]


def graphpart_partition(adj: sp.csr_matrix, x: np.ndarray, k: int, communities=None) -> np.ndarray:
    """(N,) part ids 0..K'-1 numbered by size, largest first (stable in list order); isolated nodes -> part 0."""
    n = adj.shape[0]
    comms = modularity_communities(adj) if communities is None else communities
    labels = np.zeros(n, dtype=np.int64)
    if not comms:
        return labels
    merged = ward_merge(x, comms, k)
    order = sorted(range(len(merged)), key=lambda t: -len(merged[t]))
    for pid, t in enumerate(order):
        labels[merged[t]] = pid
    return labels


def split_even(budget: int, k: int) -> np.ndarray:
    """b // K each, the first b % K parts one more (split_cluster 188-191)."""
    share = np.full(k, budget // k, dtype=np.int64)
    share[: budget % k] += 1
    return share


class GraphPartSelector(Selector):
    """GraphPart (``far=False``) and GraphPartFar (``far=True``); see the module docstring. ``num_parts`` overrides
    max_part (tests)."""

    def __init__(self, far: bool, fidelity: str, num_parts: int | None = None):
        self.far, self.fidelity, self.num_parts = far, fidelity, num_parts
        self.name = "graphpartfar" if far else "graphpart"
        if num_parts is not None and num_parts < 1:
            raise ValueError(f"num_parts={num_parts} must be >= 1")

    def select(self, ctx: SelectionContext, budget: int, seed: int) -> np.ndarray:
        data = ctx.data
        mp = max_part(data.name, data.num_classes) if self.num_parts is None else int(self.num_parts)
        k = min(budget, mp)
        compensation = 1.0 if (self.far and budget > mp) else 0.0
        comms = ctx.cached(("cnm",), lambda: modularity_communities(data.adj))
        parts = ctx.cached(("graphpart_parts", k), lambda: graphpart_partition(data.adj, data.x.numpy(), k, comms))
        kk = int(parts.max()) + 1
        official = self.fidelity == "official"
        feats32 = propagated(ctx, fidelity=self.fidelity)
        feats = feats32.astype(np.float64)
        sq = (feats ** 2).sum(1)
        share = split_even(budget, kk)
        cand = ctx.candidates
        picks: list[int] = []
        carry = 0
        for part in range(kk):                                    # loop over parts, largest first
            ids = np.flatnonzero((parts == part) & cand)
            want = int(share[part]) + carry
            nc = min(want, len(ids))
            carry = want - nc
            if nc <= 0:
                continue
            # official: float32 features and torch's float32 norms, as GraphPart's code; corrected: float64
            centres = kmeans(feats32[ids] if official else feats[ids], nc, seed, self.fidelity).cluster_centers_
            taken = np.zeros(len(ids), dtype=bool)
            comp = np.zeros(len(ids), dtype=np.float32 if official else np.float64)
            first_part_bug = official and self.far and not picks
            if compensation > 0 and picks:                        # distance to the nearest earlier pick (once per part)
                if official:                                      # float32, as torch.minimum over the picks
                    comp = np.min([official_distances(feats32[ids])(feats32[p]) for p in picks], axis=0)
                else:
                    pk = np.array(picks)
                    d2 = sq[ids][:, None] + sq[pk][None, :] - 2.0 * feats[ids] @ feats[pk].T
                    comp = np.sqrt(np.clip(d2, 0.0, None)).min(1) * compensation
            dist = official_distances(feats32[ids]) if official else None
            for c in centres:                                     # loop over centres of this part
                if first_part_bug:                                # their map is -inf (or NaN) everywhere: argmin
                    j = int(np.argmin(taken))                     # takes the part's lowest id not taken yet
                else:
                    if official:
                        d = dist(c) - comp
                    else:
                        d = np.sqrt(np.clip(sq[ids] - 2.0 * feats[ids] @ c + c @ c, 0.0, None)) - comp
                    d[taken] = np.inf
                    j = int(np.argmin(d))
                taken[j] = True
                picks.append(int(ids[j]))
        if len(picks) < budget:                                   # parts too small for their share: nearest to new centres
            rest = np.flatnonzero(cand & ~np.isin(np.arange(len(cand)), picks))
            picks.extend(kmeans_nearest(feats[rest], rest, budget - len(picks), seed, fidelity=self.fidelity))
        return np.array(picks[:budget], dtype=np.int64)


# --------------------------------------------------------------------------------------------------
# Project variants (this app's first reading of the paper), kept under their own names.

def merge_parts(adj: sp.csr_matrix, labels: np.ndarray, k: int) -> np.ndarray:
    """Agglomerate parts down to ``k``: smallest part into the neighbour part it shares most edges with
    (no neighbour: the smallest other part) -> (N,) ids 0..k'-1. Sparse: part-to-part edge counts are
    kept as dicts, O(edges between parts) memory (no dense P x P)."""
    labels = np.unique(labels, return_inverse=True)[1]
    p = int(labels.max()) + 1
    ind = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), p))
    between = (ind.T @ adj @ ind).tocoo()                    # (P, P) sparse edge counts between parts
    nb: list[dict] = [defaultdict(float) for _ in range(p)]
    for a, b, w in zip(between.row.tolist(), between.col.tolist(), between.data.tolist()):
        if a != b:
            nb[a][b] += w
    sizes = np.bincount(labels, minlength=p).astype(np.int64)
    alive = np.ones(p, dtype=bool)
    target = np.arange(p)
    heap = [(int(sizes[i]), i) for i in range(p)]
    heapq.heapify(heap)
    n_alive = p
    while n_alive > k:                                        # loop over merges (parts, not nodes)
        sz, s = heapq.heappop(heap)
        if not alive[s] or sz != sizes[s]:
            continue                                          # stale heap entry
        if nb[s]:
            t = min(nb[s], key=lambda u: (-nb[s][u], u))      # most shared edges, then smaller id
        else:
            while True:                                       # smallest other live part
                sz2, t = heap[0]
                if alive[t] and sz2 == sizes[t]:
                    break
                heapq.heappop(heap)
        for u, w in nb[s].items():                            # move s's edges to t
            del nb[u][s]
            if u != t:
                nb[t][u] += w
                nb[u][t] += w
        nb[s] = defaultdict(float)
        sizes[t] += sizes[s]
        alive[s] = False
        target[s] = t
        heapq.heappush(heap, (int(sizes[t]), t))
        n_alive -= 1
    root = target.copy()
    for _ in range(p):                                        # follow merge chains to the surviving part
        nxt = target[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return np.unique(root[labels], return_inverse=True)[1]


class GraphPartMergeSelector(Selector):
    """The project variants ``graphpart_merge`` / ``graphpartfar_hops`` (see the module docstring)."""

    def __init__(self, far: bool, num_parts: int | None = None, far_hops: int = 2):
        self.far, self.num_parts, self.far_hops = far, num_parts, far_hops
        self.name = "graphpartfar_hops" if far else "graphpart_merge"

    def select(self, ctx: SelectionContext, budget: int, seed: int) -> np.ndarray:
        return _merge_select(ctx, budget, seed, self.far, self.num_parts, self.far_hops)


def _merge_select(ctx: SelectionContext, budget: int, seed: int, far: bool, num_parts: int | None,
                  far_hops: int) -> np.ndarray:
    adj = ctx.data.adj
    comms = ctx.cached(("cnm",), lambda: modularity_communities(adj))
    natural = np.full(adj.shape[0], -1, dtype=np.int64)
    for i, c in enumerate(comms):
        natural[c] = i
    iso = natural < 0
    natural[iso] = len(comms) + np.arange(int(iso.sum()))     # isolated nodes: their own parts
    k = int(num_parts) if num_parts is not None else int(np.clip(round(budget / 5), 1, natural.max() + 1))
    if k < 1:
        raise ValueError(f"num_parts={num_parts} must be >= 1")
    parts = ctx.cached(("merge_parts", k), lambda: merge_parts(adj, natural, k))
    feats = propagated(ctx)
    cand = ctx.candidates
    kk = int(parts.max()) + 1
    capacity = np.bincount(parts[cand], minlength=kk)
    order = np.lexsort((np.arange(kk), -capacity))
    share = np.zeros(kk, dtype=np.int64)
    left = budget
    while left > 0 and (share[order] < capacity[order]).any():   # even split, remainder to the largest
        for i in order:
            if left == 0:
                break
            if share[i] < capacity[i]:
                share[i] += 1
                left -= 1
    picks: list[int] = []
    blocked = [np.zeros(adj.shape[0], dtype=bool) for _ in range(far_hops + 1)]
    for part in order:                                        # loop over parts, largest first
        if share[part] == 0:
            continue
        ids = np.flatnonzero(cand & (parts == part))
        if not far:
            picks.extend(kmeans_nearest(feats[ids], ids, int(share[part]), seed, set(picks)))
            continue
        with threadpool_limits(1):
            km = KMeans(n_clusters=int(share[part]), n_init=1, random_state=seed).fit(feats[ids])
            dist = km.transform(feats[ids]).T
        for c in range(len(dist)):
            order_c = ids[np.argsort(dist[c], kind="stable")]
            for h in range(far_hops, -1, -1):                 # relax the hop constraint
                ok = order_c[~blocked[h][order_c]] if h > 0 else order_c
                ok = ok[~np.isin(ok, picks)]
                if len(ok):
                    v = int(ok[0])
                    break
            picks.append(v)
            frontier = np.zeros(adj.shape[0], dtype=bool)
            frontier[v] = True
            for h in range(1, far_hops + 1):
                frontier = frontier | (adj @ frontier.astype(np.float32) > 0)
                blocked[h] |= frontier
    return np.array(picks[:budget], dtype=np.int64)
