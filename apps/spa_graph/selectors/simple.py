"""Structure-only baselines: Random, Degree (highest degree), PageRank (highest PageRank, damping 0.85).

As in GraphPart's query.py (``Random`` 199-213, ``Degree`` 445-468, ``PageRank`` 474-488): PageRank is
networkx's default (damping 0.85) on GraphPart's ``data.g``, which has a self loop on every node
(dataset.py 122-123); the degree is taken from the loop-free adjacency.
"""
from __future__ import annotations

import numpy as np

import scipy.sparse as sp

from apps.spa_graph.graph import degrees
from apps.spa_graph.pagerank import pagerank
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
    """The ``budget`` highest-PageRank candidates on the graph with self loops (ties: smaller id)."""
    budget = check_budget(budget, ctx.num_candidates)
    adj = ctx.data.adj
    pr = ctx.cached(("pagerank_selfloops", damping),
                    lambda: pagerank(adj + sp.identity(adj.shape[0], format="csr", dtype=adj.dtype), damping))
    return ctx.top_k(pr, budget)
