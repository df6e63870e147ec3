"""FeatProp (Wu et al. 2019) as in GraphPart's code (query.py ``ClusterBased`` 546-584): k-means with
``budget`` clusters (k-means++, ``random_state=seed``; ``n_init`` by fidelity, ``selectors/fidelity.py``) on the
propagated features S^2 X (float32, as GraphPart hands them to scikit-learn); the centres are visited in k-means'
own order and each takes its nearest node not taken yet."""
from __future__ import annotations

import numpy as np

from apps.spa_graph.selectors.base import Selector
from apps.spa_graph.selectors.common import propagated
from apps.spa_graph.selectors.context import SelectionContext
from apps.spa_graph.selectors.fidelity import kmeans

__all__ = ["FeatPropSelector", "kmeans_nearest"]


def kmeans_nearest(feats: np.ndarray, ids: np.ndarray, k: int, seed: int, taken: set | None = None,
                   fidelity: str = "corrected") -> list[int]:
    """k-means (k clusters) on feats (M, F) of node ids (M,) -> k distinct ids, each the nearest to a centre
    not taken yet, centres in k-means' order (query.py 576-582)."""
    taken = set() if taken is None else taken
    k = min(k, len(ids))
    if k <= 0:
        return []
    centres = kmeans(feats, k, seed, fidelity).cluster_centers_
    out: list[int] = []
    blocked = np.isin(ids, np.fromiter(taken, dtype=np.int64, count=len(taken)))
    dist = official_distances(feats) if fidelity == "official" else _sq_distances(feats)
    for c in centres:                                # loop over centres (<= budget), not nodes
        d = dist(c)
        d[blocked] = np.inf
        j = int(np.argmin(d))
        blocked[j] = True
        taken.add(int(ids[j]))
        out.append(int(ids[j]))
    return out


def _sq_distances(feats: np.ndarray):
    """c (F,) -> squared distances of every row of feats (M, F) to c, float64 (same argmin as the norm)."""
    sq = (feats.astype(np.float64) ** 2).sum(1)
    return lambda c: sq - 2.0 * feats @ c + float(c @ c)


def official_distances(feats: np.ndarray):
    """c (F,) -> ``torch.linalg.norm(x - c, dim=1)`` in the features' float32 (a float32 array), as GraphPart's
    query.py computes it (query.py 578, 640): the rounding decides near ties, so callers keep float32 arithmetic."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(feats))
    return lambda c: torch.linalg.norm(x - torch.as_tensor(c, dtype=x.dtype), dim=1).numpy()


class FeatPropSelector(Selector):
    name = "featprop"

    def __init__(self, fidelity: str):
        self.fidelity = fidelity

    def select(self, ctx: SelectionContext, budget: int, seed: int) -> np.ndarray:
        ids = np.flatnonzero(ctx.candidates)
        return np.array(kmeans_nearest(propagated(ctx, fidelity=self.fidelity)[ids], ids, budget, seed, fidelity=self.fidelity),
                        dtype=np.int64)
