"""PageRank by power iteration on a scipy CSR adjacency (the same fixed point as networkx.pagerank)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["pagerank"]


def pagerank(adj: sp.csr_matrix, damping: float = 0.85, tol: float = 1e-6, max_iter: int = 1000) -> np.ndarray:
    """(N, N) adjacency (weights allowed) -> (N,) PageRank summing to 1.

    Dangling nodes (no out-edges, e.g. isolated ones) spread their mass uniformly, as networkx does;
    stops when the L1 change is below ``N * tol`` (networkx's rule). ValueError for damping outside
    [0, 1) and RuntimeError if it does not converge in ``max_iter`` iterations.
    """
    if not (0.0 <= float(damping) < 1.0):
        raise ValueError(f"damping={damping} must be in [0, 1)")
    if not sp.issparse(adj) or adj.shape[0] != adj.shape[1]:
        raise ValueError("adj must be a square scipy.sparse matrix")
    n = adj.shape[0]
    if n == 0:
        return np.zeros(0)
    a = sp.csr_matrix(adj, dtype=np.float64)
    out_w = np.asarray(a.sum(axis=1)).ravel()
    dangling = out_w == 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out_w))
    pt = (sp.diags(inv) @ a).T.tocsr()          # column-stochastic transition, transposed once
    x = np.full(n, 1.0 / n)
    for _ in range(max_iter):
        prev = x
        x = damping * (pt @ prev + prev[dangling].sum() / n) + (1.0 - damping) / n
        if np.abs(x - prev).sum() < n * tol:
            return x / x.sum()
    raise RuntimeError(f"pagerank did not converge in {max_iter} iterations (tol={tol})")
