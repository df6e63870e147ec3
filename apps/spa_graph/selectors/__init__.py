"""Node selectors for one-shot graph active learning: SPA and its baselines (rules in the README)."""
from __future__ import annotations

import numpy as np

from apps.spa_graph.selectors.context import SelectionContext, check_budget
from apps.spa_graph.selectors.featprop import featprop_select
from apps.spa_graph.selectors.graphpart import graphpart_merge_select, graphpart_select
from apps.spa_graph.selectors.model_based import age_select, uncertainty_select
from apps.spa_graph.selectors.simple import degree_select, pagerank_select, random_select
from apps.spa_graph.selectors.spa import SPA_MODES, spa_select

__all__ = ["METHODS", "BASELINES", "SPA_METHODS", "PROJECT_VARIANTS", "DETERMINISTIC", "SelectionContext", "select", "check_budget", "SPA_MODES"]

METHODS = {
    "spa_official": lambda ctx, b, seed, **kw: spa_select(ctx, b, seed, mode="official", **kw),
    "spa_ranked": lambda ctx, b, seed, **kw: spa_select(ctx, b, seed, mode="ranked", **kw),
    "spa_random_order": lambda ctx, b, seed, **kw: spa_select(ctx, b, seed, mode="random_order", **kw),
    "random": random_select,
    "degree": degree_select,
    "pagerank": pagerank_select,
    "uncertainty": uncertainty_select,
    "featprop": featprop_select,
    "graphpart": lambda ctx, b, seed, **kw: graphpart_select(ctx, b, seed, far=False, **kw),
    "graphpartfar": lambda ctx, b, seed, **kw: graphpart_select(ctx, b, seed, far=True, **kw),
    "age": age_select,
    # the project's own earlier readings, kept under their own names (not GraphPart's code)
    "graphpart_merge": lambda ctx, b, seed, **kw: graphpart_merge_select(ctx, b, seed, far=False, **kw),
    "graphpartfar_hops": lambda ctx, b, seed, **kw: graphpart_merge_select(ctx, b, seed, far=True, **kw),
}
SPA_METHODS = tuple(m for m in METHODS if m.startswith("spa"))
PROJECT_VARIANTS = ("spa_random_order", "graphpart_merge", "graphpartfar_hops")
# the paper's baselines as in GraphPart's code (+ Degree and AGE, which GraphPart also runs)
BASELINES = ("random", "degree", "pagerank", "uncertainty", "featprop", "graphpart", "graphpartfar", "age")
# selectors whose output does not depend on the seed (selection computed once per budget)
DETERMINISTIC = ("degree", "pagerank", "spa_ranked")


def select(method: str, ctx: SelectionContext, budget: int, seed: int = 0, **kw) -> np.ndarray:
    """-> (budget,) distinct candidate node ids chosen by ``method``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; choose one of {list(METHODS)}")
    check_budget(budget, ctx.num_candidates)
    out = np.asarray(METHODS[method](ctx, budget, seed, **kw), dtype=np.int64)
    assert len(out) == budget and len(np.unique(out)) == budget and ctx.candidates[out].all(), method
    return out
