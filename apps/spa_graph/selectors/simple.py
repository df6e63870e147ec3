"""Structure-only baselines: Random, Degree (highest degree), PageRank (highest PageRank, damping 0.85)."""
from __future__ import annotations

import numpy as np

from apps.spa_graph.graph import degrees
from apps.spa_graph.selectors.common import global_pagerank
from apps.spa_graph.selectors.context import SelectionContext, check_budget

__all__ = ["random_select", "degree_select", "pagerank_select"]


def random_select(ctx: SelectionContext, budget: int, seed: int = 0) -> np.ndarray:
    """Uniform sample of ``budget`` candidates without replacement (seeded)."""
    budget = check_budget(budget, ctx.num_candidates)
    return np.random.default_rng(seed).choice(np.flatnonzero(ctx.candidates), budget, replace=False).astype(np.int64)


def degree_select(ctx: SelectionContext, budget: int, seed: int = 0) -> np.ndarray:
    """The ``budget`` highest-degree candidates (ties: smaller id)."""
    budget = check_budget(budget, ctx.num_candidates)
    return ctx.top_k(degrees(ctx.data.adj), budget)


def pagerank_select(ctx: SelectionContext, budget: int, seed: int = 0, damping: float = 0.85) -> np.ndarray:
    """The ``budget`` highest-PageRank candidates (ties: smaller id)."""
    budget = check_budget(budget, ctx.num_candidates)
    return ctx.top_k(global_pagerank(ctx, damping), budget)
