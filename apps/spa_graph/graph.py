"""Clean an edge list into a symmetric, binary, loop-free scipy CSR adjacency, plus propagated features."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["CleanGraph", "clean_adjacency", "normalized_adjacency", "propagate_features", "degrees"]


@dataclass
class CleanGraph:
    """A symmetric 0/1 CSR adjacency without self loops, and what was changed to get there."""
    adj: sp.csr_matrix
    notes: list[str] = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return self.adj.shape[0]

    @property
    def num_edges(self) -> int:
        """Undirected edges."""
        return self.adj.nnz // 2


def clean_adjacency(edge_index, num_nodes: int) -> CleanGraph:
    """``edge_index`` (2, E) ints (numpy or torch) -> symmetric binary CSR (N, N) without self loops.

    Self loops are dropped, duplicate edges merged and directed edges symmetrized; each change is
    recorded in ``notes``. Isolated nodes are kept (SCAN makes them outliers). Bad shapes or ids
    out of range raise ValueError.
    """
    if hasattr(edge_index, "detach"):
        edge_index = edge_index.detach().cpu().numpy()
    ei = np.asarray(edge_index)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {ei.shape}")
    if ei.size and not np.issubdtype(ei.dtype, np.integer):
        raise ValueError(f"edge_index must hold integers, got dtype {ei.dtype}")
    if int(num_nodes) < 1:
        raise ValueError(f"num_nodes={num_nodes} must be >= 1")
    n = int(num_nodes)
    ei = ei.astype(np.int64, copy=False)
    if ei.size and (ei.min() < 0 or ei.max() >= n):
        raise ValueError(f"edge_index holds node ids outside [0, {n}): min {ei.min()}, max {ei.max()}")
    notes: list[str] = []
    row, col = ei
    loops = row == col
    if loops.any():
        notes.append(f"dropped {int(loops.sum())} self loop(s)")
        row, col = row[~loops], col[~loops]
    m = len(row)
    a = sp.coo_matrix((np.ones(m, dtype=np.float32), (row, col)), shape=(n, n)).tocsr()
    a.sum_duplicates()
    if a.nnz < m:
        notes.append(f"merged {m - a.nnz} duplicate edge(s)")
    a.data[:] = 1.0
    sym = a.maximum(a.T).tocsr()
    if sym.nnz != a.nnz:
        notes.append(f"symmetrized: added {sym.nnz - a.nnz} reverse edge(s) (graph was directed)")
    sym.sort_indices()
    sym.data = np.ones_like(sym.data, dtype=np.float32)
    iso = int((np.diff(sym.indptr) == 0).sum())
    if iso:
        notes.append(f"{iso} isolated node(s) kept (SCAN makes them outliers)")
    return CleanGraph(sym, notes)


def degrees(adj: sp.csr_matrix) -> np.ndarray:
    """(N, N) CSR -> (N,) int degrees."""
    return np.diff(adj.indptr).astype(np.int64)


def normalized_adjacency(adj: sp.csr_matrix) -> sp.csr_matrix:
    """GCN operator S = D^-1/2 (A + I) D^-1/2, (N, N) -> (N, N) CSR."""
    a = adj + sp.identity(adj.shape[0], dtype=np.float32, format="csr")
    d = np.asarray(a.sum(axis=1)).ravel()
    dinv = 1.0 / np.sqrt(d)
    return (sp.diags(dinv) @ a @ sp.diags(dinv)).tocsr().astype(np.float32)


def propagate_features(adj: sp.csr_matrix, x: np.ndarray, hops: int = 2) -> np.ndarray:
    """S^hops X: (N, N) CSR, (N, F) -> (N, F) float32 (FeatProp/GraphPart's aggregated features)."""
    s = normalized_adjacency(adj)
    out = np.asarray(x, dtype=np.float32)
    for _ in range(hops):
        out = np.asarray(s @ out, dtype=np.float32)
    return out
