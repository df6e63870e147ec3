"""Node selectors for one-shot graph active learning: SPA and its baselines (rules in the README).

``METHODS`` is the registry: a method's name -> how its ``Selector`` is built from the run's ``SpaParams`` and
baseline ``fidelity`` (``selectors/fidelity.py``). Adding a method: one ``Selector`` class and one line here.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from apps.spa_graph.selectors.base import Selector
from apps.spa_graph.selectors.context import SelectionContext, check_budget
from apps.spa_graph.selectors.featprop import FeatPropSelector
from apps.spa_graph.selectors.fidelity import FIDELITY
from apps.spa_graph.selectors.graphpart import GraphPartMergeSelector, GraphPartSelector
from apps.spa_graph.selectors.model_based import AgeSelector, UncertaintySelector
from apps.spa_graph.selectors.simple import DegreeSelector, PageRankSelector, RandomSelector
from apps.spa_graph.selectors.spa import SPA_MODES, SpaSelector

__all__ = ["METHODS", "BASELINES", "SPA_METHODS", "PROJECT_VARIANTS", "FIDELITY_METHODS", "Selector",
           "SelectionContext", "build_selector", "select", "check_budget", "SPA_MODES", "FIDELITY"]

# name -> build(spa_params, fidelity) -> Selector
METHODS: dict[str, Callable] = {
    "spa_official": lambda spa, fid: SpaSelector("official", spa),
    "spa_ranked": lambda spa, fid: SpaSelector("ranked", spa),
    "spa_random_order": lambda spa, fid: SpaSelector("random_order", spa),
    "random": lambda spa, fid: RandomSelector(fid),
    "degree": lambda spa, fid: DegreeSelector(),
    "pagerank": lambda spa, fid: PageRankSelector(fid),
    "uncertainty": lambda spa, fid: UncertaintySelector(fid),
    "featprop": lambda spa, fid: FeatPropSelector(fid),
    "graphpart": lambda spa, fid: GraphPartSelector(False, fid),
    "graphpartfar": lambda spa, fid: GraphPartSelector(True, fid),
    "age": lambda spa, fid: AgeSelector(fid),
    # the project's own earlier readings, kept under their own names (not GraphPart's code)
    "graphpart_merge": lambda spa, fid: GraphPartMergeSelector(False),
    "graphpartfar_hops": lambda spa, fid: GraphPartMergeSelector(True),
}
SPA_METHODS = tuple(m for m in METHODS if m.startswith("spa"))
PROJECT_VARIANTS = ("spa_random_order", "graphpart_merge", "graphpartfar_hops")
# the paper's baselines as in GraphPart's code (+ Degree and AGE, which GraphPart also runs)
BASELINES = ("random", "degree", "pagerank", "uncertainty", "featprop", "graphpart", "graphpartfar", "age")
# baselines whose official and corrected picks differ
FIDELITY_METHODS = ("random", "pagerank", "uncertainty", "featprop", "graphpart", "graphpartfar", "age")


def build_selector(method: str, spa=None, fidelity: str = "corrected") -> Selector:
    """The ``Selector`` for ``method``; ``spa`` (SpaParams) is needed by the SPA methods only."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; choose one of {list(METHODS)}")
    if fidelity not in FIDELITY:
        raise ValueError(f"fidelity={fidelity!r}; choose one of {list(FIDELITY)}")
    if method in SPA_METHODS and spa is None:
        spa = _yaml_spa()
    return METHODS[method](spa, fidelity)


@lru_cache(maxsize=1)
def _yaml_spa():
    """configs/train.yaml's ``spa`` section as SpaParams (the one default, for library callers without settings)."""
    from apps.spa_graph.recipe import default_settings

    return default_settings().spa


def select(method: str | Selector, ctx: SelectionContext, budget: int, seed: int = 0, *, spa=None,
           fidelity: str = "corrected") -> np.ndarray:
    """-> (budget,) distinct candidate node ids chosen by ``method`` (a name or a built Selector)."""
    sel = method if isinstance(method, Selector) else build_selector(method, spa, fidelity)
    budget = check_budget(budget, ctx.num_candidates)
    out = np.asarray(sel.select(ctx, budget, seed), dtype=np.int64)
    if not (len(out) == budget and len(np.unique(out)) == budget and ctx.candidates[out].all()):
        raise AssertionError(f"{sel!r} returned {len(out)} ids ({len(np.unique(out))} distinct) for budget {budget}")
    return out
