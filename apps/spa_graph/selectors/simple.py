"""Structure-only baselines: Random, Degree (highest degree), PageRank (highest PageRank, damping 0.85).

As in GraphPart's query.py (``Random`` 199-213, ``Degree`` 445-468, ``PageRank`` 474-488): PageRank is
networkx's default (damping 0.85, networkx's stopping rule) on GraphPart's ``data.g``, which has a self loop on
every node (dataset.py 122-123); the degree is taken from the loop-free adjacency. ``fidelity=official`` reads
PageRank as GraphPart's code does, positionally in ``data.g``'s insertion order, and draws Random from numpy's
legacy stream after main.py's shuffle (``selectors/fidelity.py``).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from apps.spa_graph.graph import degrees
from apps.spa_graph.pagerank import pagerank
from apps.spa_graph.selectors.base import Selector
from apps.spa_graph.selectors.context import SelectionContext
from apps.spa_graph.selectors.fidelity import official_random, positional_scores

__all__ = ["RandomSelector", "DegreeSelector", "PageRankSelector", "graphpart_pagerank"]

GRAPHPART_DAMPING = 0.85          # networkx.pagerank's default, which GraphPart's code calls


def graphpart_pagerank(ctx: SelectionContext, fidelity: str) -> np.ndarray:
    """(N,) the PageRank scores GraphPart's code hands to node i: PageRank (0.85) of the graph with a self loop on
    every node; ``official``: positionally in data.g's insertion order, ``corrected``: node i's own."""
    adj = ctx.data.adj
    pr = ctx.cached(("pagerank_selfloops", GRAPHPART_DAMPING),
                    lambda: pagerank(adj + sp.identity(adj.shape[0], format="csr", dtype=adj.dtype), GRAPHPART_DAMPING))
    if fidelity == "corrected":
        return pr
    return ctx.cached(("pagerank_selfloops_positional", GRAPHPART_DAMPING), lambda: positional_scores(pr, adj))


class RandomSelector(Selector):
    """Uniform sample of ``budget`` candidates without replacement (seeded)."""

    name = "random"

    def __init__(self, fidelity: str):
        self.fidelity = fidelity

    def select(self, ctx, budget, seed):
        if self.fidelity == "official":
            return official_random(ctx.candidates, budget, seed)
        return np.random.default_rng(seed).choice(np.flatnonzero(ctx.candidates), budget, replace=False).astype(np.int64)


class DegreeSelector(Selector):
    """The ``budget`` highest-degree candidates (ties: smaller id)."""

    name = "degree"
    deterministic = True

    def select(self, ctx, budget, seed):
        return ctx.top_k(degrees(ctx.data.adj), budget)


class PageRankSelector(Selector):
    """The ``budget`` candidates with the highest PageRank scores (ties: smaller id), scores as GraphPart's code
    reads them (``official``) or each node's own (``corrected``)."""

    name = "pagerank"
    deterministic = True

    def __init__(self, fidelity: str):
        self.fidelity = fidelity

    def select(self, ctx, budget, seed):
        return ctx.top_k(graphpart_pagerank(ctx, self.fidelity), budget)
