"""What a selector sees: the graph, features, candidate nodes (those with a label), and a cache of shared
precomputations (PageRank, SCAN, propagated features, partitions) whose cost is charged to every
selector that uses them, so query times stay honest when methods share work in one run."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from apps.spa_graph.data import GraphData
from apps.spa_graph.protocol import TrainConfig

__all__ = ["SelectionContext", "check_budget"]


def check_budget(budget, num_candidates: int) -> int:
    if isinstance(budget, bool) or int(budget) != budget or int(budget) < 1:
        raise ValueError(f"budget={budget} must be an integer >= 1")
    if int(budget) > num_candidates:
        raise ValueError(f"budget={budget} exceeds the {num_candidates} candidate nodes")
    return int(budget)


@dataclass
class SelectionContext:
    data: GraphData
    candidates: np.ndarray | None = None      # (N,) bool; None = every node with a label (data.labelled)
    train: TrainConfig = field(default_factory=TrainConfig)   # for model-based selectors (Uncertainty, AGE)
    _cache: dict = field(default_factory=dict, repr=False)
    _cost: dict = field(default_factory=dict, repr=False)
    _credit: float = field(default=0.0, repr=False)

    def __post_init__(self):
        n = self.data.num_nodes
        if self.candidates is None:
            self.candidates = self.data.labelled.copy()
        self.candidates = np.asarray(self.candidates, dtype=bool)
        if self.candidates.shape != (n,):
            raise ValueError(f"candidates must be a (N,) = ({n},) bool mask, got {self.candidates.shape}")
        if (self.candidates & ~self.data.labelled).any():
            raise ValueError("candidates include nodes without a label (-1): they cannot be selected")

    @property
    def num_candidates(self) -> int:
        return int(self.candidates.sum())

    def cached(self, key, fn: Callable):
        """fn() once per key; a later hit adds the first computation's time to the current query's credit."""
        if key in self._cache:
            self._credit += self._cost[key]
            return self._cache[key]
        t0 = time.perf_counter()
        val = fn()
        self._cost[key] = time.perf_counter() - t0
        self._cache[key] = val
        return val

    def timed(self, fn: Callable, *args, **kw):
        """Run a selector -> (result, query seconds incl. the cost of cached pieces it reused)."""
        self._credit = 0.0
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        return out, time.perf_counter() - t0 + self._credit

    def top_k(self, scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """Ids of the ``k`` best-scoring candidates (ties: smaller id), skipping ``exclude``."""
        ok = self.candidates.copy()
        if exclude is not None and len(exclude):
            ok[np.asarray(exclude)] = False
        ids = np.flatnonzero(ok)
        order = np.lexsort((ids, -np.asarray(scores, dtype=np.float64)[ids]))
        return ids[order[:k]]
