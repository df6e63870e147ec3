"""An index for SCAN queries at any (eps, mu), in the spirit of GS*-Index (Wen, Qin, Zhang, Chang, Lin:
"Efficient structural graph clustering: an index-based approach", VLDB 2017; extended in the VLDB Journal /
SIGMOD line of work): the similarities are computed once, then every ``query(eps, mu)`` is answered from two
orders without touching a similarity again.

* **Neighbour order**: each node's neighbours sorted by sigma, largest first (ties by neighbour id). The
  eps-neighbours of u are a prefix of its row, found by binary search.
* **Core order**: for each k = 1 .. max degree, the nodes of degree >= k sorted by their k-th largest sigma,
  largest first. A node is a core at (eps, mu) iff its k-th largest sigma >= eps with k = mu (cdlib's
  convention) or mu - 1 (``include_self``), so the cores are a prefix of the k-th list, found by binary search.

A query then reads only the cores' eps-prefixes (union-find over core-core eps-edges, borders from the cores'
prefixes) and, for the hubs, the rows of the cluster members: time O(N + sum over cores of |eps-prefix| +
sum over members of their degree) -- the N for the (N,) label and role arrays it returns -- against a fresh
SCAN's O(sum over edges of min(d_u, d_v)) similarity pass. Results are identical to ``scan.scan`` (labels,
roles, cluster numbering; the same float64 sigma and the same ``sigma >= eps - 1e-9`` test; tests compare
them over a grid of (eps, mu)).

Memory: 16 bytes per stored CSR entry (sorted sigma float64, neighbour ids and core order int32) plus the
row pointers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from apps.spa_graph.csr import as_csr_graph
from apps.spa_graph.scan import BORDER, CORE, HUB, OUTLIER, ScanResult, check_scan_params
from apps.spa_graph.scan_compiled import SIGMA_TOL, common_counts, edge_sigma

__all__ = ["ScanIndex"]


@numba.njit
def _sort_rows(indptr, indices, sig, sig_sorted, nbr_sorted):   # rows by sigma desc, ties by neighbour id
    for u in range(len(indptr) - 1):            # one thread: a one-off build; a parallel sort compiles 4x longer
        lo, hi = indptr[u], indptr[u + 1]
        if hi == lo:
            continue
        order = np.argsort(-sig[lo:hi], kind="mergesort")      # stable: equal sigma keep ascending ids
        for k in range(hi - lo):
            sig_sorted[lo + k] = sig[lo + order[k]]
            nbr_sorted[lo + k] = indices[lo + order[k]]


@numba.njit
def _fill_core_lists(indptr, ptr, nodes):   # nodes of degree >= k into list k, ascending ids
    fill = ptr[:-1].copy()
    for u in range(len(indptr) - 1):
        for k in range(1, indptr[u + 1] - indptr[u] + 1):
            nodes[fill[k]] = u
            fill[k] += 1


@numba.njit
def _sort_core_lists(indptr, sig_sorted, ptr, nodes):   # list k by the k-th largest sigma desc (stable)
    for k in range(1, len(ptr) - 1):
        lo, hi = ptr[k], ptr[k + 1]
        if hi - lo < 2:
            continue
        seg = nodes[lo:hi].copy()
        key = np.empty(hi - lo)
        for i in range(hi - lo):
            key[i] = -sig_sorted[indptr[seg[i]] + k - 1]
        order = np.argsort(key, kind="mergesort")
        for i in range(hi - lo):
            nodes[lo + i] = seg[order[i]]


@numba.njit(inline="always")
def _prefix(values, lo, hi, thr):           # number of leading entries of the descending values[lo:hi] >= thr
    a, b = lo, hi
    while a < b:
        mid = (a + b) >> 1
        if values[mid] >= thr:
            a = mid + 1
        else:
            b = mid
    return a - lo


@numba.njit
def _count_cores(indptr, sig_sorted, ptr, nodes, k, thr):   # binary search in core list k
    lo, hi = ptr[k], ptr[k + 1]
    a, b = lo, hi
    while a < b:
        mid = (a + b) >> 1
        if sig_sorted[indptr[nodes[mid]] + k - 1] >= thr:
            a = mid + 1
        else:
            b = mid
    return a - lo


@numba.njit(inline="always")
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit
def _query(indptr, sig_sorted, nbr_sorted, cores, thr, labels, roles):
    # cores (C,) ascending ids -> fills labels (N,) int64 and roles (N,) int8 (all but hubs) -> (clusters, seen)
    n = len(indptr) - 1
    is_core = np.zeros(n, dtype=np.bool_)
    parent = np.arange(n).astype(np.int32)      # O(N), as the outputs
    for u in cores:
        is_core[u] = True
    plen = np.empty(len(cores), dtype=np.int64)
    for i in range(len(cores)):                  # union over core-core eps-edges (prefixes of the cores' rows)
        u = cores[i]
        lo = indptr[u]
        m = _prefix(sig_sorted, lo, indptr[u + 1], thr)
        plen[i] = m
        for j in range(lo, lo + m):
            v = nbr_sorted[j]
            if v > u and is_core[v]:
                ra, rb = _find(parent, u), _find(parent, v)
                if ra != rb:
                    if ra < rb:
                        parent[rb] = ra
                    else:
                        parent[ra] = rb
    for x in range(n):
        labels[x] = -1
        roles[x] = 3                             # OUTLIER
    slot = np.full(n, -1, dtype=np.int64)        # cluster id of each root
    k = 0
    for i in range(len(cores)):                  # ascending ids: a cluster is numbered at its smallest core
        u = cores[i]
        r = _find(parent, u)
        if slot[r] < 0:
            slot[r] = k
            k += 1
        labels[u] = slot[r]
        roles[u] = 0                             # CORE
    best = slot.astype(np.float64)               # reuse the memory: best sigma per border candidate
    best[:] = -1.0
    for i in range(len(cores)):                  # borders: the most similar core, then the smaller cluster id
        u = cores[i]
        lu = labels[u]
        lo = indptr[u]
        for j in range(lo, lo + plen[i]):
            v = nbr_sorted[j]
            if is_core[v]:
                continue
            s = sig_sorted[j]
            if s > best[v] or (s == best[v] and lu < labels[v]):
                best[v] = s
                labels[v] = lu
                roles[v] = 1                     # BORDER
    return k


@numba.njit
def _hubs(indptr, nbr_sorted, members, labels, roles, seen):
    # non-members w adjacent to members of >= 2 clusters; seen (N,) int64 = first cluster met, -1 before
    for m in members:
        lm = labels[m]
        for j in range(indptr[m], indptr[m + 1]):
            w = nbr_sorted[j]
            if labels[w] >= 0:
                continue
            if seen[w] < 0:
                seen[w] = lm
            elif seen[w] != lm:
                roles[w] = 2                     # HUB


@dataclass(frozen=True)
class ScanIndex:
    indptr: np.ndarray        # (N + 1,) int64 row pointers of the graph
    sig_sorted: np.ndarray    # (nnz,) float64 each row's sigmas, largest first
    nbr_sorted: np.ndarray    # (nnz,) int32 the neighbour of each sorted sigma
    core_ptr: np.ndarray      # (max_degree + 2,) int64: core list k = core_nodes[core_ptr[k]:core_ptr[k + 1]]
    core_nodes: np.ndarray    # (nnz,) int32 nodes of degree >= k by their k-th largest sigma, largest first

    @classmethod
    def build(cls, graph, counts: np.ndarray | None = None) -> "ScanIndex":
        """CSRGraph or clean scipy adjacency (+ optional ``common_counts``) -> the index (similarities once)."""
        g = as_csr_graph(graph)
        sig = edge_sigma(g, common_counts(g) if counts is None else counts)     # (nnz,) float64
        sig_sorted = np.empty_like(sig)
        nbr_sorted = np.empty(len(sig), dtype=np.int32)
        _sort_rows(g.indptr, g.indices, sig, sig_sorted, nbr_sorted)
        del sig
        deg = g.degrees()
        max_deg = int(deg.max()) if len(deg) else 0
        per_k = np.bincount(deg, minlength=max_deg + 1)[::-1].cumsum()[::-1]   # (max_deg+1,) nodes with deg >= k
        core_ptr = np.zeros(max_deg + 2, dtype=np.int64)
        if max_deg:
            np.cumsum(per_k[1:], out=core_ptr[2:])
        core_nodes = np.empty(len(nbr_sorted), dtype=np.int32)
        _fill_core_lists(g.indptr, core_ptr, core_nodes)
        _sort_core_lists(g.indptr, sig_sorted, core_ptr, core_nodes)
        return cls(g.indptr, sig_sorted, nbr_sorted, core_ptr, core_nodes)

    @property
    def num_nodes(self) -> int:
        return len(self.indptr) - 1

    @property
    def max_degree(self) -> int:
        return len(self.core_ptr) - 2

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.indptr, self.sig_sorted, self.nbr_sorted, self.core_ptr,
                                          self.core_nodes)))

    def _k(self, mu: int, include_self: bool) -> int:
        return mu - (1 if include_self else 0)

    def cores(self, eps: float, mu: int, include_self: bool = False) -> np.ndarray:
        """-> (C,) int64 core ids, ascending (a prefix of core list k, sorted)."""
        eps, mu = check_scan_params(eps, mu)
        k = self._k(mu, include_self)
        if k <= 0:
            return np.arange(self.num_nodes, dtype=np.int64)
        if k > self.max_degree:
            return np.zeros(0, dtype=np.int64)
        c = _count_cores(self.indptr, self.sig_sorted, self.core_ptr, self.core_nodes, k, eps - SIGMA_TOL)
        start = self.core_ptr[k]
        return np.sort(self.core_nodes[start:start + c]).astype(np.int64)

    def num_cores(self, eps: float, mu: int, include_self: bool = False) -> int:
        """Number of cores at (eps, mu) in O(log N)."""
        eps, mu = check_scan_params(eps, mu)
        k = self._k(mu, include_self)
        if k <= 0:
            return self.num_nodes
        if k > self.max_degree:
            return 0
        return int(_count_cores(self.indptr, self.sig_sorted, self.core_ptr, self.core_nodes, k, eps - SIGMA_TOL))

    def query(self, eps: float, mu: int, include_self: bool = False) -> ScanResult:
        """SCAN at (eps, mu) from the index -> ``ScanResult`` identical to ``scan.scan(adj, eps, mu, include_self)``."""
        cores = self.cores(eps, mu, include_self)
        n = self.num_nodes
        labels = np.empty(n, dtype=np.int64)
        roles = np.empty(n, dtype=np.int8)
        k = _query(self.indptr, self.sig_sorted, self.nbr_sorted, cores, float(eps) - SIGMA_TOL, labels, roles)
        if k:
            members = np.flatnonzero(labels >= 0)
            _hubs(self.indptr, self.nbr_sorted, members, labels, roles, np.full(n, -1, dtype=np.int64))
        return ScanResult(labels=labels, roles=roles, num_clusters=int(k))


assert (CORE, BORDER, HUB, OUTLIER) == (0, 1, 2, 3)     # the role codes written by the kernels above
