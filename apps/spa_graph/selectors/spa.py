"""SPA (Algorithm 1 of arXiv 2312.04307): SCAN communities, the highest-PageRank node of each, then
the highest-PageRank remaining nodes.

``faithful`` follows the official notebook: one global PageRank (damping 0.95), SCAN with cdlib's
convention (eps=0.5, mu=3, node not in its own eps-neighbourhood), communities visited in a seeded
random order; when the budget is smaller than the number of communities only the first ``budget``
communities of that order get a pick (the notebook hangs there; we stop instead).
``ranked`` follows the paper's text: PageRank inside each community (its induced subgraph), and
communities visited by size (``order='size'``) or by global PageRank mass (``order='mass'``), largest
first, so a small budget goes to the biggest/most central communities.
"""
from __future__ import annotations

import numpy as np

from apps.spa_graph.pagerank import pagerank
from apps.spa_graph.selectors.common import global_pagerank, scan_result
from apps.spa_graph.selectors.context import SelectionContext, check_budget

__all__ = ["SPA_MODES", "spa_select"]

SPA_MODES = ("faithful", "ranked")


def spa_select(ctx: SelectionContext, budget: int, seed: int = 0, mode: str = "faithful", eps: float = 0.5,
               mu: int = 3, include_self: bool = False, damping: float = 0.95, order: str = "size") -> np.ndarray:
    """-> (budget,) selected node ids (community picks first, then the PageRank fill)."""
    if mode not in SPA_MODES:
        raise ValueError(f"spa mode={mode!r}; choose one of {list(SPA_MODES)}")
    if order not in ("size", "mass"):
        raise ValueError(f"spa order={order!r}; choose one of ['size', 'mass']")
    budget = check_budget(budget, ctx.num_candidates)
    res = scan_result(ctx, eps, mu, include_self)
    pr = global_pagerank(ctx, damping)
    cand = ctx.candidates
    comms = [c[cand[c]] for c in res.communities()]
    comms = [c for c in comms if len(c)]
    if mode == "faithful":
        perm = np.random.default_rng(seed).permutation(len(comms))
        comms = [comms[i] for i in perm]
    else:
        key = [len(c) if order == "size" else float(pr[c].sum()) for c in comms]
        comms = [comms[i] for i in sorted(range(len(comms)), key=lambda i: (-key[i], int(comms[i].min())))]
    picks: list[int] = []
    adj = ctx.data.adj
    for c in comms[:budget]:                      # one pick per community (loop over communities, not nodes)
        if mode == "faithful":
            score = pr[c]
        else:
            sub = adj[c][:, c]
            score = pagerank(sub, damping) if len(c) > 1 else np.ones(1)
        best = np.lexsort((c, -score))[0]
        picks.append(int(c[best]))
    if len(picks) < budget:
        picks.extend(ctx.top_k(pr, budget - len(picks), exclude=np.array(picks, dtype=np.int64)).tolist())
    return np.array(picks, dtype=np.int64)
