"""Two-layer GCN / GraphSAGE (PyG convolutions), hidden 16, dropout on the hidden layer (the SPA and
GraphPart notebooks use dropout 0; ``TrainConfig.dropout``). Same layout as GraphPart's models.py
(``GCN``/``SAGE``: conv -> relu -> dropout -> conv, ``embed`` = the hidden layer).

Deviation from Kipf's GCN: no dropout on the input features. On bag-of-words graphs the input is
~1% dense and is passed as a sparse CSR tensor (4x faster on CPU); dense input dropout cost 90% of a CPU epoch.

Two ways to run the same layers (same parameters, same initialisation, the same function up to float rounding):
* PyG's message passing on the edge list (``GCNConv(x, edge_index)``) -- GCN on small graphs, what the committed
  Cora / CiteSeer grids used;
* a ``GraphOperator``: the layer's propagation as one sparse matrix P applied to (N, H) rows, with a backward
  that multiplies by a stored P^T (torch's own CSR backward transposes P on every call: 130 ms a call on Tolokers'
  1M edges against 8 ms forward; Minesweeper trains 4x faster). GCN: P = D^-1/2 (A + I) D^-1/2 (PyG's ``gcn_norm``), ``out = P (x W) + b``;
  SAGE (mean aggregation, root weight): P = D^-1 A, ``out = P (x W_l) + b_l + x W_r`` -- PyG's
  ``lin_l(mean(x)) + lin_r(x)`` with the linear map taken before the mean, which on sparse bag-of-words features
  multiplies the ~1% non-zeros only (GraphSAGE on CiteSeer: ~45 s -> ~3 s a training on one core).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch_geometric.nn import GCNConv, SAGEConv

__all__ = ["MODELS", "GNN", "build_model", "SparseInputLinear", "GraphOperator"]

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


_LAST_T: list = [None, None]     # (x, x^T) of the last sparse input (one graph at a time)


def _transpose(x: torch.Tensor) -> torch.Tensor:
    if _LAST_T[0] is not x:
        _LAST_T[:] = [x, x.to_sparse_coo().t().coalesce().to_sparse_csr()]
    return _LAST_T[1]


def matmul_t(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight.T for a dense or sparse-CSR x (N, F), weight (H, F) -> (N, H)."""
    if x.layout != torch.sparse_csr:
        return x @ weight.t()
    return _SparseMM.apply(x, _transpose(x), weight.t())


class SparseInputLinear(nn.Module):
    """Wraps GCNConv's bias-free ``lin`` so a sparse-CSR input uses two CSR products (forward and
    weight gradient, the transpose cached per input) instead of torch's slow sparse backward.
    Same parameter, same result as the dense path."""

    def __init__(self, lin: nn.Module):
        super().__init__()
        self.lin = lin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.layout != torch.sparse_csr:
            return self.lin(x)
        return matmul_t(x, self.lin.weight)

    def reset_parameters(self):
        self.lin.reset_parameters()


class GraphOperator:
    """A layer's propagation as a fixed (N, N) sparse matrix P (and P^T) for ``P @ h`` with a cheap backward."""

    def __init__(self, p: sp.csr_matrix, symmetric: bool):
        p = sp.csr_matrix(p, dtype=np.float32)
        p.sort_indices()
        self.p = _torch_csr(p)
        self.pt = self.p if symmetric else _torch_csr(p.T.tocsr())
        self.num_nodes = p.shape[0]

    @classmethod
    def for_model(cls, kind: str, adj: sp.csr_matrix) -> "GraphOperator":
        """GCN: D^-1/2 (A + I) D^-1/2 (PyG's gcn_norm with self loops); SAGE: D^-1 A (mean over neighbours)."""
        a = sp.csr_matrix(adj, dtype=np.float64)
        if kind == "gcn":
            a = a + sp.identity(a.shape[0], format="csr")
            d = np.asarray(a.sum(1)).ravel()
            dinv = 1.0 / np.sqrt(d)
            return cls(sp.diags(dinv) @ a @ sp.diags(dinv), symmetric=True)
        d = np.asarray(a.sum(1)).ravel()
        inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
        return cls(sp.diags(inv) @ a, symmetric=False)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        return _OperatorMM.apply(self, h)


def _torch_csr(m: sp.csr_matrix) -> torch.Tensor:
    with warnings.catch_warnings():                  # "sparse CSR support is in beta": the ops used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                       torch.from_numpy(m.indices.astype(np.int64)),
                                       torch.from_numpy(m.data.astype(np.float32)), size=m.shape,
                                       check_invariants=False)


class _OperatorMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, op, h):                       # (N, N) operator, (N, H) -> (N, H)
        ctx.op = op
        return torch.sparse.mm(op.p, h)

    @staticmethod
    def backward(ctx, grad):
        return None, torch.sparse.mm(ctx.op.pt, grad)


class GNN(nn.Module):
    """(N, F) features, (2, E) edge_index or a GraphOperator -> (N, C) logits."""

    def __init__(self, kind: str, in_dim: int, num_classes: int, hidden: int = 16, dropout: float = 0.5):
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"model={kind!r} is unknown; choose one of {list(MODELS)}")
        self.kind = kind
        if kind == "gcn":   # cached: the graph is fixed (transductive), so the normalisation is computed once
            self.conv1, self.conv2 = GCNConv(in_dim, hidden, cached=True), GCNConv(hidden, num_classes, cached=True)
            self.conv1.lin = SparseInputLinear(self.conv1.lin)
        else:
            self.conv1, self.conv2 = SAGEConv(in_dim, hidden), SAGEConv(hidden, num_classes)
        self.dropout = dropout

    def _layer(self, conv, x, edges):
        if not isinstance(edges, GraphOperator):
            return conv(x, edges)
        if self.kind == "gcn":
            w = conv.lin.lin.weight if isinstance(conv.lin, SparseInputLinear) else conv.lin.weight
            return edges(matmul_t(x, w)) + conv.bias
        return edges(matmul_t(x, conv.lin_l.weight)) + conv.lin_l.bias + matmul_t(x, conv.lin_r.weight)

    def embed(self, x: torch.Tensor, edges) -> torch.Tensor:
        """(N, F), edges -> (N, hidden): the hidden layer (what AGE clusters, GraphPart's ``embed``)."""
        x = torch.relu(self._layer(self.conv1, x, edges))
        return nn.functional.dropout(x, self.dropout, self.training)

    def forward(self, x: torch.Tensor, edges) -> torch.Tensor:
        return self._layer(self.conv2, self.embed(x, edges), edges)


def build_model(kind: str, in_dim: int, num_classes: int, hidden: int = 16, dropout: float = 0.5) -> GNN:
    return GNN(kind, in_dim, num_classes, hidden, dropout)
