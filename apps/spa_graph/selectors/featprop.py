"""FeatProp (Wu et al. 2019) as in GraphPart's code (query.py ``ClusterBased`` 546-584): k-means with
``budget`` clusters (sklearn ``KMeans(n_clusters, init='k-means++', random_state=seed)``, its default
``n_init``) on the propagated features S^2 X; the centres are visited in k-means' own order and each
takes its nearest node not taken yet."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from apps.spa_graph.selectors.common import propagated
from apps.spa_graph.selectors.context import SelectionContext, check_budget

__all__ = ["featprop_select", "kmeans_nearest", "kmeans_centres"]


def kmeans_centres(feats: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(M, F) -> (k, F) k-means centres (one thread: OpenMP k-means oversubscribes a shared CPU)."""
    with threadpool_limits(1):
        return KMeans(n_clusters=k, random_state=seed).fit(feats).cluster_centers_


def kmeans_nearest(feats: np.ndarray, ids: np.ndarray, k: int, seed: int, taken: set | None = None) -> list[int]:
    """k-means (k clusters) on feats (M, F) of node ids (M,) -> k distinct ids, each the nearest to a centre
    not taken yet, centres in k-means' order (query.py 576-582)."""
    taken = set() if taken is None else taken
    k = min(k, len(ids))
    if k <= 0:
        return []
    centres = kmeans_centres(feats, k, seed)
    sq = (feats.astype(np.float64) ** 2).sum(1)
    out: list[int] = []
    blocked = np.isin(ids, np.fromiter(taken, dtype=np.int64, count=len(taken)))
    for c in centres:                                # loop over centres (<= budget), not nodes
        d = sq - 2.0 * feats @ c + float(c @ c)       # squared distance, same argmin as the norm
        d[blocked] = np.inf
        j = int(np.argmin(d))
        blocked[j] = True
        taken.add(int(ids[j]))
        out.append(int(ids[j]))
    return out


def featprop_select(ctx: SelectionContext, budget: int, seed: int = 0) -> np.ndarray:
    budget = check_budget(budget, ctx.num_candidates)
    ids = np.flatnonzero(ctx.candidates)
    return np.array(kmeans_nearest(propagated(ctx)[ids], ids, budget, seed), dtype=np.int64)
