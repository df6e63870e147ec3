"""FeatProp (Wu et al. 2019, as run in the GraphPart paper): k-means with ``budget`` clusters on the
propagated features S^2 X of the candidates; from each centre the nearest candidate not yet taken."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from apps.spa_graph.selectors.common import propagated
from apps.spa_graph.selectors.context import SelectionContext, check_budget

__all__ = ["featprop_select", "kmeans_nearest"]


def kmeans_nearest(feats: np.ndarray, ids: np.ndarray, k: int, seed: int, taken: set | None = None) -> list[int]:
    """k-means (k clusters) on feats (M, F) of node ids (M,) -> k distinct ids, each nearest to a centre.

    Centres are visited in order of their cluster size (largest first); a centre whose nearest node
    is already taken gets its next nearest one.
    """
    taken = set() if taken is None else taken
    k = min(k, len(ids))
    if k <= 0:
        return []
    with threadpool_limits(1):   # OpenMP k-means on a shared CPU: one thread is much faster than oversubscription
        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(feats)
        d = km.transform(feats).T                                         # (k, M) distances
    sizes = np.bincount(km.labels_, minlength=k)
    out: list[int] = []
    for c in np.lexsort((np.arange(k), -sizes)):    # loop over centres (<= budget), not nodes
        for j in np.argsort(d[c], kind="stable"):
            if int(ids[j]) not in taken:
                taken.add(int(ids[j]))
                out.append(int(ids[j]))
                break
    return out


def featprop_select(ctx: SelectionContext, budget: int, seed: int = 0) -> np.ndarray:
    budget = check_budget(budget, ctx.num_candidates)
    ids = np.flatnonzero(ctx.candidates)
    return np.array(kmeans_nearest(propagated(ctx)[ids], ids, budget, seed), dtype=np.int64)
