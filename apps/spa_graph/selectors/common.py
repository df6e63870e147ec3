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


def propagated(ctx: SelectionContext, hops: int = 2, fidelity: str = "corrected") -> np.ndarray:
    """S^hops X (N, F) float32. ``corrected``: scipy's sparse product (``graph.propagate_features``); ``official``:
    GraphPart's ``get_node_representation('aggregation')`` -- PyG's ``GCNConv`` with an identity weight, applied
    ``hops`` times -- whose float32 sums round differently in the last bit for ~0.5 % of the entries (enough to move
    one k-means pick in some seeds)."""
    if fidelity == "official":
        return ctx.cached(("propagated_pyg", hops), lambda: _gcnconv_aggregation(ctx, hops))
    return ctx.cached(("propagated", hops), lambda: propagate_features(ctx.data.adj, ctx.data.x.numpy(), hops))


def _gcnconv_aggregation(ctx: SelectionContext, hops: int) -> np.ndarray:
    import torch
    from torch_geometric.nn import GCNConv

    x = ctx.data.x
    f = x.shape[1]
    conv = GCNConv(f, f, cached=True, bias=False)
    with torch.no_grad():
        conv.lin.weight.copy_(torch.eye(f))
        for _ in range(hops):                      # query.py 120-127
            x = conv(x, ctx.data.edge_index)
    return x.numpy()
