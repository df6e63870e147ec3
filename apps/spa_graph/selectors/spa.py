"""SPA (arXiv 2312.04307): SCAN communities, the highest-PageRank node of each, then the PageRank fill.

Three rules, all SCAN (eps, mu from ``SpaParams``: the config's ``spa`` section, the paper's eps=0.5, mu=3) with
cdlib's convention (a node is not its own eps-neighbour). PageRank is networkx's (its stopping rule; the
project's ``pagerank`` default), as the notebook calls it.

``official`` -- the official notebook exactly (rickymaulanafajri/SPA, SPA.ipynb, cell 4,
  ``SCANPageRankOptimized.query``), except that it cannot hang:
  * one global PageRank, damping 0.95 (``nx.pagerank(G, alpha=0.95, max_iter=400, tol=1e-6)``);
  * communities = ``cdlib.algorithms.scan(G, 0.5, 3).communities`` after ``random.seed(seed)``: largest
    first, equal sizes in SCAN's discovery order (``cdlib_order.py`` reproduces it exactly);
  * one pass over the communities: each gives its ``max(1, remaining // k)`` highest-PageRank members
    (``sorted(..., reverse=True)`` is stable: ties in BFS order), ``remaining`` shrinking as it goes;
    the first ``b`` picks are kept (``selected_indices[:b]``). For b <= k: the top node of each of the
    b largest communities; for b >= 2k some communities give several nodes.
  * If one pass places fewer than b nodes the notebook loops: with cdlib 0.3.0 the second ``scan`` call
    sees every node already "classified" (the graph's node attributes) and returns no community, so
    the ``while remaining_budget > 0`` loop never ends; cdlib 0.4.1 re-runs SCAN on a copy and
    re-selects the same nodes (duplicates). We stop after the first pass and fill with the
    highest-global-PageRank remaining nodes, as the paper's text says (Sec. 4.2).
``ranked`` -- Algorithm 1 as written: PageRank computed inside each community (its induced subgraph),
  communities largest first (``order='size'``) or by global PageRank mass (``order='mass'``), one node
  each, fill from G \\ S by global PageRank. Deterministic.
``random_order`` -- (formerly ``spa_faithful``) one global PageRank, communities in a seeded uniformly
  random order, one node each, global-PageRank fill. Not the notebook's rule; kept as an ablation.
"""
from __future__ import annotations

import numpy as np

from apps.spa_graph.cdlib_order import cdlib_scan_communities
from apps.spa_graph.pagerank import pagerank
from apps.spa_graph.scan import structural_similarity
from apps.spa_graph.selectors.base import Selector
from apps.spa_graph.selectors.common import global_pagerank, scan_result
from apps.spa_graph.selectors.context import SelectionContext
from apps.spa_graph.settings import SpaParams

__all__ = ["SPA_MODES", "SpaSelector", "official_communities"]

SPA_MODES = ("official", "ranked", "random_order")


def official_communities(ctx: SelectionContext, eps: float, mu: int, seed: int) -> list[np.ndarray]:
    """cdlib's community list for this seed (largest first, members in BFS order), restricted to candidates."""
    sim = ctx.cached(("similarity",), lambda: structural_similarity(ctx.data.adj))
    comms = ctx.cached(("cdlib_scan", eps, mu, seed),
                       lambda: cdlib_scan_communities(ctx.data.adj, eps, mu, seed, similarity=sim))
    cand = ctx.candidates
    return [c[cand[c]] for c in comms if cand[c].any()]


def _official(ctx: SelectionContext, budget: int, seed: int, p: SpaParams) -> list[int]:
    pr = global_pagerank(ctx, p.damping)
    comms = official_communities(ctx, p.eps, p.mu, seed)
    picks: list[int] = []
    remaining = budget
    for c in comms:                       # notebook: for community in communities (one pass)
        num = max(1, remaining // len(comms))
        order = c[np.argsort(-pr[c], kind="stable")]   # sorted(..., key=PR, reverse=True): ties keep BFS order
        picks.extend(order[:num].tolist())
        remaining -= num
    return picks[:budget]                 # selected_indices[:b]


class SpaSelector(Selector):
    """SPA under one of ``SPA_MODES`` with the run's ``SpaParams`` (the module docstring gives the rules)."""

    def __init__(self, mode: str, params: SpaParams):
        if mode not in SPA_MODES:
            raise ValueError(f"spa mode={mode!r}; choose one of {list(SPA_MODES)}")
        if mode == "official" and params.include_self:
            raise ValueError("spa.include_self=true: spa_official follows cdlib's convention (false)")
        self.mode, self.params = mode, params
        self.name = f"spa_{mode}"
        self.deterministic = mode == "ranked"

    def select(self, ctx: SelectionContext, budget: int, seed: int) -> np.ndarray:
        p = self.params
        pr = global_pagerank(ctx, p.damping)
        if self.mode == "official":
            picks = _official(ctx, budget, seed, p)
        else:
            res = scan_result(ctx, p.eps, p.mu, p.include_self)
            cand = ctx.candidates
            comms = [c[cand[c]] for c in res.communities()]
            comms = [c for c in comms if len(c)]
            if self.mode == "random_order":
                perm = np.random.default_rng(seed).permutation(len(comms))
                comms = [comms[i] for i in perm]
            else:
                key = [len(c) if p.order == "size" else float(pr[c].sum()) for c in comms]
                comms = [comms[i] for i in sorted(range(len(comms)), key=lambda i: (-key[i], int(comms[i].min())))]
            picks = []
            adj = ctx.data.adj
            for c in comms[:budget]:                      # one pick per community (loop over communities, not nodes)
                if self.mode == "random_order":
                    score = pr[c]
                else:
                    sub = adj[c][:, c]
                    score = pagerank(sub, p.damping) if len(c) > 1 else np.ones(1)
                picks.append(int(c[np.lexsort((c, -score))[0]]))
        if len(picks) < budget:                           # global-PageRank fill from the remaining candidates
            picks.extend(ctx.top_k(pr, budget - len(picks), exclude=np.array(picks, dtype=np.int64)).tolist())
        return np.array(picks, dtype=np.int64)
