"""Selectors that train a GNN first: Uncertainty (entropy) and AGE (Cai et al. 2017), one-shot.

Both label ``b0 = max(1, budget // 3)`` random candidates (seeded), train the protocol's GNN on them,
and spend the rest of the budget on the best-scoring remaining candidates:
- Uncertainty: the entropy of the predicted class distribution.
- AGE: alpha * entropy percentile + beta * density percentile + gamma * centrality percentile, with
  density = 1 / (1 + distance to the centre of its k-means cluster (k = number of classes) in the
  predicted-probability space) and centrality = PageRank (damping 0.85). AGE's weights vary over its
  rounds (gamma ~ Beta(1, 1.005 - 0.9^t)); one-shot we use the equal weights 1/3 each (configurable).
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from apps.spa_graph.protocol import train_gnn
from apps.spa_graph.selectors.common import global_pagerank
from apps.spa_graph.selectors.context import SelectionContext, check_budget
from apps.spa_graph.selectors.simple import random_select

__all__ = ["uncertainty_select", "age_select", "percentile"]


def percentile(scores: np.ndarray) -> np.ndarray:
    """(M,) -> (M,) fraction of entries strictly below each one."""
    s = np.asarray(scores, dtype=np.float64)
    return np.searchsorted(np.sort(s), s, side="left") / max(len(s), 1)


def _warm_start(ctx: SelectionContext, budget: int, seed: int):
    b0 = max(1, budget // 3)
    start = random_select(ctx, b0, seed)
    prob = train_gnn(ctx.data, start, ctx.train, seed).numpy()
    ent = -(prob * np.log(np.clip(prob, 1e-12, None))).sum(1)
    return start, prob, ent


def uncertainty_select(ctx: SelectionContext, budget: int, seed: int = 0) -> np.ndarray:
    budget = check_budget(budget, ctx.num_candidates)
    start, _, ent = _warm_start(ctx, budget, seed)
    return np.concatenate([start, ctx.top_k(ent, budget - len(start), exclude=start)])


def age_select(ctx: SelectionContext, budget: int, seed: int = 0, alpha: float = 1 / 3, beta: float = 1 / 3,
               gamma: float = 1 / 3) -> np.ndarray:
    budget = check_budget(budget, ctx.num_candidates)
    start, prob, ent = _warm_start(ctx, budget, seed)
    k = min(ctx.data.num_classes, ctx.data.num_nodes)
    with threadpool_limits(1):
        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(prob)
    dens = 1.0 / (1.0 + np.linalg.norm(prob - km.cluster_centers_[km.labels_], axis=1))
    pr = global_pagerank(ctx, 0.85)
    score = alpha * percentile(ent) + beta * percentile(dens) + gamma * percentile(pr)
    return np.concatenate([start, ctx.top_k(score, budget - len(start), exclude=start)])
