"""Edge samples -> CSRGraph without a sort of the whole edge list: a counting scatter, then each row sorted and
deduplicated in place (numba), then one compaction.

Memory: the (E,) int32 samples, the (2E,) int32 scatter and the final (2E',) int32 indices (E' unique edges);
``np.unique`` on int64 pair keys would need about four times as much at 1e8 edges.
"""
from __future__ import annotations

import numba
import numpy as np

from apps.spa_graph.csr import CSRGraph

__all__ = ["csr_from_edges"]


@numba.njit(cache=False)
def _scatter(u, v, indptr, out):   # (E,), (E,) int32, (N+1,) int64 -> fills out (2E_noloop,) int32 by row
    fill = indptr[:-1].copy()
    for i in range(len(u)):                # loop over edge samples: a scatter, O(E)
        a, b = u[i], v[i]
        if a == b:
            continue
        out[fill[a]] = b
        fill[a] += 1
        out[fill[b]] = a
        fill[b] += 1


@numba.njit(cache=False)
def _sort_dedup_rows(indptr, out, kept):   # (N+1,), (nnz,) -> rows sorted and unique in their prefix; kept (N,)
    n = len(indptr) - 1
    for u in range(n):                      # loop over rows, each sorted on its own (one thread: compiles fast)
        lo, hi = indptr[u], indptr[u + 1]
        if hi - lo == 0:
            kept[u] = 0
            continue
        row = np.sort(out[lo:hi])
        k = 0
        for j in range(hi - lo):
            if j == 0 or row[j] != row[j - 1]:
                out[lo + k] = row[j]
                k += 1
        kept[u] = k


@numba.njit(cache=False)
def _compact(indptr, out, new_indptr, new_out):   # copy each row's unique prefix into the final arrays
    for u in range(len(indptr) - 1):
        lo = indptr[u]
        nlo, nhi = new_indptr[u], new_indptr[u + 1]
        for j in range(nhi - nlo):
            new_out[nlo + j] = out[lo + j]


def csr_from_edges(u: np.ndarray, v: np.ndarray, num_nodes: int) -> CSRGraph:
    """(E,) int32 endpoints (duplicates, both orientations and self loops allowed) -> symmetric CSRGraph
    with sorted, unique rows and no self loops."""
    u = np.ascontiguousarray(u, dtype=np.int32)
    v = np.ascontiguousarray(v, dtype=np.int32)
    if u.shape != v.shape or u.ndim != 1:
        raise ValueError(f"u and v must be 1-d arrays of one length, got {u.shape} and {v.shape}")
    n = int(num_nodes)
    if n < 1:
        raise ValueError(f"num_nodes={num_nodes} must be >= 1")
    if len(u) and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
        raise ValueError(f"edge endpoints must lie in [0, {n})")
    loops = u == v
    deg = np.bincount(u[~loops], minlength=n) + np.bincount(v[~loops], minlength=n)   # (N,) int64
    del loops
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    del deg
    out = np.empty(int(indptr[-1]), dtype=np.int32)
    _scatter(u, v, indptr, out)
    kept = np.empty(n, dtype=np.int64)
    _sort_dedup_rows(indptr, out, kept)
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(kept, out=new_indptr[1:])
    del kept
    new_out = np.empty(int(new_indptr[-1]), dtype=np.int32)
    _compact(indptr, out, new_indptr, new_out)
    return CSRGraph(new_indptr, new_out)
