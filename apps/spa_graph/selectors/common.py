"""Shared precomputations (cached in the SelectionContext): PageRank, SCAN, propagated features."""
from __future__ import annotations

import numpy as np

from apps.spa_graph.graph import propagate_features
from apps.spa_graph.pagerank import pagerank
from apps.spa_graph.scan import ScanResult, scan
from apps.spa_graph.selectors.context import SelectionContext

__all__ = ["global_pagerank", "scan_result", "propagated"]


def global_pagerank(ctx: SelectionContext, damping: float) -> np.ndarray:
    return ctx.cached(("pagerank", damping), lambda: pagerank(ctx.data.adj, damping))


def scan_result(ctx: SelectionContext, eps: float, mu: int, include_self: bool) -> ScanResult:
    return ctx.cached(("scan", eps, mu, include_self), lambda: scan(ctx.data.adj, eps, mu, include_self))


def propagated(ctx: SelectionContext, hops: int = 2) -> np.ndarray:
    """S^hops X (N, F)."""
    return ctx.cached(("propagated", hops), lambda: propagate_features(ctx.data.adj, ctx.data.x.numpy(), hops))
