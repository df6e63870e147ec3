"""The selector interface: a small object per method, built once from the settings it needs, asked for picks.

Adding a method is one class here and one line in ``selectors/__init__.py``'s ``METHODS`` (its name and how it is
built from ``(SpaParams, fidelity)``); nothing else changes (the grid, the recipe, the reports read the registry).
"""
from __future__ import annotations

import numpy as np

from apps.spa_graph.selectors.context import SelectionContext

__all__ = ["Selector"]


class Selector:
    """``select(ctx, budget, seed) -> (budget,) distinct candidate ids``.

    ``deterministic``: the picks do not depend on the seed (queried once per budget in a grid).
    ``fidelity``: "official" / "corrected" for baselines whose official code differs from what they mean
    (``selectors/fidelity.py``), None where there is one reading (SPA's rules, Degree, project variants)."""

    name: str = ""
    deterministic: bool = False
    fidelity: str | None = None

    def select(self, ctx: SelectionContext, budget: int, seed: int) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        fid = f", fidelity={self.fidelity}" if self.fidelity else ""
        return f"{type(self).__name__}({self.name}{fid})"
