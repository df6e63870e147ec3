"""A lean undirected graph in CSR form (sorted neighbour lists, no edge data), for graphs too large for scipy.

A scipy ``csr_matrix`` of 1e8 input edges carries a float data array beside its indices and turns int32
indices into int64 when they are combined with an int64 ``indptr``; ``CSRGraph`` keeps only what SCAN and
PageRank read: ``indptr`` (N + 1,) int64 and ``indices`` (2E,) int32, each row sorted ascending, no self
loops, no duplicates, symmetric (u in N(v) iff v in N(u)). ``from_scipy`` / ``to_scipy`` convert to and
from the project's clean adjacency (``graph.clean_adjacency``); ``save`` / ``load`` write plain ``.npy``
arrays (loaded with ``allow_pickle=False``: nothing read back runs code).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["CSRGraph", "as_csr_graph"]


@dataclass(frozen=True)
class CSRGraph:
    indptr: np.ndarray     # (N + 1,) int64, indptr[0] = 0, non-decreasing
    indices: np.ndarray    # (2E,) int32, row u = indices[indptr[u]:indptr[u + 1]], sorted ascending

    def __post_init__(self):
        if self.indptr.dtype != np.int64 or self.indptr.ndim != 1 or len(self.indptr) < 1:
            raise ValueError(f"indptr must be a 1-d int64 array of length N + 1, got {self.indptr.dtype} "
                             f"shape {self.indptr.shape}")
        if self.indices.dtype != np.int32 or self.indices.ndim != 1:
            raise ValueError(f"indices must be a 1-d int32 array, got {self.indices.dtype} shape {self.indices.shape}")
        if self.indptr[0] != 0 or self.indptr[-1] != len(self.indices):
            raise ValueError(f"indptr must start at 0 and end at len(indices)={len(self.indices)}, "
                             f"got {self.indptr[0]} .. {self.indptr[-1]}")

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def num_edges(self) -> int:
        """Undirected edges (each stored twice)."""
        return len(self.indices) // 2

    @property
    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.indices.nbytes)

    def degrees(self) -> np.ndarray:
        """(N,) int64 degrees."""
        return np.diff(self.indptr)

    def to_scipy(self) -> sp.csr_matrix:
        """(N, N) float32 0/1 CSR, the form ``graph.clean_adjacency`` returns (copies; small graphs only)."""
        n = self.num_nodes
        a = sp.csr_matrix((np.ones(len(self.indices), dtype=np.float32), self.indices.copy(), self.indptr.copy()),
                          shape=(n, n))
        a.has_sorted_indices = True
        return a

    @classmethod
    def from_scipy(cls, adj, check: bool = True) -> "CSRGraph":
        """A clean adjacency (symmetric, 0/1, no self loops; ``graph.clean_adjacency``) -> CSRGraph.

        ``check``: verify symmetry and the absence of self loops (O(nnz) with a transpose; skip only for
        matrices that come from ``clean_adjacency``)."""
        if not sp.issparse(adj) or adj.shape[0] != adj.shape[1]:
            raise ValueError("adj must be a square scipy.sparse matrix (use graph.clean_adjacency)")
        a = sp.csr_matrix(adj)
        if not a.has_sorted_indices:
            a = a.copy()
            a.sort_indices()
        if check:
            if a.diagonal().any():
                raise ValueError("adj has self loops; clean it with graph.clean_adjacency first")
            if (a != a.T).nnz:
                raise ValueError("adj is not symmetric; clean it with graph.clean_adjacency first")
        if a.shape[0] >= 2 ** 31 - 1:
            raise ValueError(f"N={a.shape[0]} nodes do not fit int32 node ids")
        return cls(np.ascontiguousarray(a.indptr, dtype=np.int64), np.ascontiguousarray(a.indices, dtype=np.int32))

    def save(self, folder: str | Path) -> Path:
        """Write ``indptr.npy`` and ``indices.npy`` into ``folder`` (created) -> the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "indptr.npy", self.indptr)
        np.save(folder / "indices.npy", self.indices)
        return folder

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = False) -> "CSRGraph":
        """Read what ``save`` wrote (plain arrays, ``allow_pickle=False``); ``mmap`` maps instead of reading."""
        folder = Path(folder)
        mode = "r" if mmap else None
        return cls(np.load(folder / "indptr.npy", mmap_mode=mode, allow_pickle=False),
                   np.load(folder / "indices.npy", mmap_mode=mode, allow_pickle=False))


def as_csr_graph(adj, check: bool = False) -> CSRGraph:
    """CSRGraph unchanged, a scipy clean adjacency converted (no copy when its arrays already have the dtypes)."""
    if isinstance(adj, CSRGraph):
        return adj
    return CSRGraph.from_scipy(adj, check=check)
