"""Two-layer GCN / GraphSAGE (PyG convolutions), hidden 16, dropout on the hidden layer (the SPA and
GraphPart notebooks use dropout 0; ``TrainConfig.dropout``). Same layout as GraphPart's models.py
(``GCN``/``SAGE``: conv -> relu -> dropout -> conv, ``embed`` = the hidden layer).

Deviation from Kipf's GCN: no dropout on the input features. On bag-of-words graphs the input is
~1% dense and is passed to GCNConv as a sparse CSR tensor (4x faster on CPU); dense input dropout
cost 90% of a CPU epoch.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv, SAGEConv

__all__ = ["MODELS", "GNN", "build_model", "SparseInputLinear"]

MODELS = ("gcn", "sage")


class _SparseMM(torch.autograd.Function):
    """(N, F) sparse CSR x, its (F, N) CSR transpose, (F, H) dense w -> (N, H); gradient for w only."""

    @staticmethod
    def forward(ctx, x, xt, w):
        ctx.xt = xt
        return torch.sparse.mm(x, w)

    @staticmethod
    def backward(ctx, grad):
        return None, None, torch.sparse.mm(ctx.xt, grad)


class SparseInputLinear(nn.Module):
    """Wraps GCNConv's bias-free ``lin`` so a sparse-CSR input uses two CSR products (forward and
    weight gradient, the transpose cached per input) instead of torch's slow sparse backward.
    Same parameter, same result as the dense path."""

    _last: tuple = (None, None)   # (x, x^T) of the last sparse input, shared by all instances (one graph at a time)

    def __init__(self, lin: nn.Module):
        super().__init__()
        self.lin = lin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.layout != torch.sparse_csr:
            return self.lin(x)
        if SparseInputLinear._last[0] is not x:
            SparseInputLinear._last = (x, x.to_sparse_coo().t().coalesce().to_sparse_csr())
        return _SparseMM.apply(x, SparseInputLinear._last[1], self.lin.weight.t())

    def reset_parameters(self):
        self.lin.reset_parameters()


class GNN(nn.Module):
    """(N, F) features, (2, E) edge_index -> (N, C) logits."""

    def __init__(self, kind: str, in_dim: int, num_classes: int, hidden: int = 16, dropout: float = 0.5):
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"model={kind!r} is unknown; choose one of {list(MODELS)}")
        if kind == "gcn":   # cached: the graph is fixed (transductive), so the normalisation is computed once
            self.conv1, self.conv2 = GCNConv(in_dim, hidden, cached=True), GCNConv(hidden, num_classes, cached=True)
            self.conv1.lin = SparseInputLinear(self.conv1.lin)
        else:
            self.conv1, self.conv2 = SAGEConv(in_dim, hidden), SAGEConv(hidden, num_classes)
        self.dropout = dropout

    def embed(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """(N, F), (2, E) -> (N, hidden): the hidden layer (what AGE clusters, GraphPart's ``embed``)."""
        x = torch.relu(self.conv1(x, edge_index))
        return nn.functional.dropout(x, self.dropout, self.training)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.embed(x, edge_index), edge_index)


def build_model(kind: str, in_dim: int, num_classes: int, hidden: int = 16, dropout: float = 0.5) -> GNN:
    return GNN(kind, in_dim, num_classes, hidden, dropout)
