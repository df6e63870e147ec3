"""SCAN compiled with numba: exact structural similarity by intersecting sorted adjacency rows, clusters by
union-find, rows in parallel over numba's threads. Same rules, tie-breaks and floating-point values as the
numpy reference ``scan.scan`` (tests compare labels and roles exactly).

Why numba (issue 32): it installs from the lock as manylinux wheels (numba + llvmlite, no compiler on the
machine), compiles plain Python loops to machine code at first call and runs ``prange`` loops on a thread pool
(OpenMP or numba's workqueue). No on-disk cache (``cache=False``): a cache would be machine code loaded from a
folder, which the project does not run (DESIGN habit 20); the compile cost is paid once per process and is
measured on its own (``compile_seconds``), and ``scan.scan(engine="auto")`` keeps the numpy path on small graphs
where compiling would cost more than it saves.

Pieces (N nodes, nnz = 2E directed CSR entries, rows sorted):

* ``common_counts(g, method)`` -> (nnz,) int32 ``|N(u) & N(v)|`` per entry; each undirected edge is
  intersected once and its count written to both of its entries (one writer per entry, no race):
  - ``"merge"``: from the lower id u (v > u), a linear merge of the two sorted rows, or, when one row is more
    than ``_GALLOP`` times longer, a galloping search of the shorter row's ids in the longer one; the mirror
    entry's position by binary search in row v. Work ~ sum over edges of d_u + d_v.
  - ``"mark"`` (default; at 1e7 input edges, one thread, 1.1 s against merge's 2.3 s, and 2.8 s against 4.1 s
    with randomly permuted ids): u's row marked in a per-thread byte array, then for each
    neighbour v of lower (degree, id) rank, v's row scanned against the marks (the mirror entry is where the
    scan meets u). Work ~ sum over edges of min(d_u, d_v) plus one pass over each row; the marks cost N bytes
    per thread. Both give the same integers (tested); the sorted rows make both exact and cheap.
* sigma(u, v) = (common + 2) / sqrt((d_u + 1)(d_v + 1)), evaluated with the reference's float64 operations, so
  the comparison ``sigma >= eps - 1e-9`` gives the same answer bit for bit.
* cores: >= mu eps-neighbours (+1 with ``include_self``); clusters: connected components of core-core
  eps-edges by union-find, one forest per thread block over disjoint node ranges, the forests merged at the
  end; clusters numbered by their smallest node id.
* borders: a non-core node with an eps-edge to a core joins the cluster of its most similar core (ties: the
  smaller cluster id); hubs: non-members adjacent to >= 2 clusters; the rest outliers.
"""
from __future__ import annotations

import time

import numba
import numpy as np

from apps.spa_graph.csr import CSRGraph, as_csr_graph

__all__ = ["COUNT_METHODS", "common_counts", "edge_sigma", "scan_csr", "scan_from_counts", "compile_seconds", "row_blocks",
           "SIGMA_TOL"]

SIGMA_TOL = 1e-9      # the reference's _TOL: sigma >= eps - SIGMA_TOL
_GALLOP = 32          # row-length ratio above which the shorter row is searched in the longer one
CORE, BORDER, HUB, OUTLIER = 0, 1, 2, 3


def row_blocks(indptr: np.ndarray, num_blocks: int) -> np.ndarray:
    """(N + 1,) row pointers -> (B + 1,) int64 row bounds of about equal nnz (work is about nnz per block)."""
    n = len(indptr) - 1
    num_blocks = max(1, min(int(num_blocks), max(n, 1)))
    targets = np.linspace(0, int(indptr[-1]), num_blocks + 1)
    bounds = np.searchsorted(indptr, targets, side="left").astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.unique(np.minimum(bounds, n))


def _blocks(indptr: np.ndarray) -> np.ndarray:
    return row_blocks(indptr, 64 * max(1, numba.get_num_threads()))


@numba.njit(inline="always")
def _sigma(c, du, dv):
    return (c + 2.0) / np.sqrt((du + 1.0) * (dv + 1.0))


@numba.njit(inline="always")
def _lower_bound(a, lo, hi, x):          # first position in a[lo:hi] with a[pos] >= x
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(inline="always")
def _intersect(idx, a0, a1, b0, b1):     # |idx[a0:a1] & idx[b0:b1]|, both sorted
    la, lb = a1 - a0, b1 - b0
    if la > lb:
        a0, a1, b0, b1, la, lb = b0, b1, a0, a1, lb, la
    if la == 0:
        return 0
    count = 0
    if lb > _GALLOP * la:                 # galloping: each id of the short row searched in the long one
        pos = b0
        for i in range(a0, a1):
            x = idx[i]
            step = 1
            hi = pos
            while hi < b1 and idx[hi] < x:
                pos = hi + 1
                hi = pos + step
                step <<= 1
            if hi > b1:
                hi = b1
            pos = _lower_bound(idx, pos, hi, x)
            if pos == b1:
                break
            if idx[pos] == x:
                count += 1
                pos += 1
        return count
    i, j = a0, b0                          # linear merge
    while i < a1 and j < b1:
        x, y = idx[i], idx[j]
        if x == y:
            count += 1
            i += 1
            j += 1
        elif x < y:
            i += 1
        else:
            j += 1
    return count


@numba.njit(parallel=True)
def _common_counts(indptr, indices, bounds, out):   # (N+1,), (nnz,), (B+1,) -> out (nnz,) int32
    for b in numba.prange(len(bounds) - 1):          # loop over row blocks (threads take blocks)
        for u in range(bounds[b], bounds[b + 1]):
            a0, a1 = indptr[u], indptr[u + 1]
            for j in range(a0, a1):
                v = indices[j]
                if v <= u:
                    continue
                b0, b1 = indptr[v], indptr[v + 1]
                c = _intersect(indices, a0, a1, b0, b1)
                out[j] = c
                out[_lower_bound(indices, b0, b1, u)] = c


@numba.njit(parallel=True)
def _mark_counts(indptr, indices, bounds, marks, out):   # marks (T, N) uint8 zeros -> out (nnz,) int32
    # unsigned loop counters and ids in the inner loops: numba tests every signed index for wrap-around
    one = np.uint64(1)
    for b in numba.prange(len(bounds) - 1):              # loop over row blocks (threads take blocks)
        mark = marks[numba.get_thread_id()]
        for u in range(bounds[b], bounds[b + 1]):
            a0, a1 = np.uint64(indptr[u]), np.uint64(indptr[u + 1])
            du = indptr[u + 1] - indptr[u]
            for j in range(a0, a1):
                mark[np.uint64(indices[j])] = 1
            for j in range(a0, a1):                      # edges whose lower-ranked end is v: scan v's row
                vi = indices[j]
                v = np.uint64(vi)
                b0, b1 = np.uint64(indptr[v]), np.uint64(indptr[v + one])
                dv = indptr[v + one] - indptr[v]
                if dv > du or (dv == du and vi > u):
                    continue
                c = 0
                p = b0
                for k in range(b0, b1):
                    w = indices[k]
                    c += mark[np.uint64(w)]
                    if w == u:
                        p = k
                out[j] = c
                out[p] = c
            for j in range(a0, a1):
                mark[np.uint64(indices[j])] = 0


COUNT_METHODS = ("mark", "merge")


def common_counts(graph, method: str = "mark") -> np.ndarray:
    """CSRGraph (or clean scipy adjacency) -> (nnz,) int32 common neighbours on every directed CSR entry."""
    if method not in COUNT_METHODS:
        raise ValueError(f"method={method!r}; choose one of {list(COUNT_METHODS)}")
    g = as_csr_graph(graph)
    out = np.empty(len(g.indices), dtype=np.int32)
    with numba.parallel_chunksize(1):
        if method == "merge":
            _common_counts(g.indptr, g.indices, _blocks(g.indptr), out)
        else:
            marks = np.zeros((numba.config.NUMBA_NUM_THREADS, g.num_nodes), dtype=np.uint8)
            _mark_counts(g.indptr, g.indices, _blocks(g.indptr), marks, out)
    return out


@numba.njit(parallel=True)
def _edge_sigma(indptr, indices, counts, bounds, out):   # -> out (nnz,) float64 sigma per entry
    one = np.uint64(1)
    for b in numba.prange(len(bounds) - 1):
        for u in range(bounds[b], bounds[b + 1]):
            du = indptr[u + 1] - indptr[u]
            for j in range(np.uint64(indptr[u]), np.uint64(indptr[u + 1])):
                v = np.uint64(indices[j])
                out[j] = _sigma(counts[j], du, indptr[v + one] - indptr[v])


def edge_sigma(graph, counts: np.ndarray | None = None) -> np.ndarray:
    """-> (nnz,) float64 sigma on every directed CSR entry (the values ``scan.structural_similarity`` stores)."""
    g = as_csr_graph(graph)
    counts = common_counts(g) if counts is None else counts
    out = np.empty(len(g.indices), dtype=np.float64)
    with numba.parallel_chunksize(1):
        _edge_sigma(g.indptr, g.indices, counts, _blocks(g.indptr), out)
    return out


@numba.njit(parallel=True)
def _cores(indptr, indices, counts, thr, need, bounds, core):   # -> core (N,) bool: eps-neighbours >= need
    one = np.uint64(1)
    for b in numba.prange(len(bounds) - 1):
        for u in range(bounds[b], bounds[b + 1]):
            du = indptr[u + 1] - indptr[u]
            k = 0
            for j in range(np.uint64(indptr[u]), np.uint64(indptr[u + 1])):
                v = np.uint64(indices[j])
                if _sigma(counts[j], du, indptr[v + one] - indptr[v]) >= thr:
                    k += 1
            core[u] = k >= need


@numba.njit(inline="always")
def _find(parent, x):                    # root of x, halving the path on the way
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(inline="always")
def _union(parent, a, b):                # the smaller root becomes the root
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        if ra < rb:
            parent[rb] = ra
        else:
            parent[ra] = rb


@numba.njit(parallel=True)
def _forests(indptr, indices, counts, thr, core, parts, parents):   # parents (P, N): one forest per part
    n = len(indptr) - 1
    one = np.uint64(1)
    for p in numba.prange(len(parts) - 1):           # loop over node ranges, each with its own forest
        par = parents[p]
        for x in range(n):
            par[x] = x
        for u in range(parts[p], parts[p + 1]):
            if not core[u]:
                continue
            du = indptr[u + 1] - indptr[u]
            for j in range(np.uint64(indptr[u]), np.uint64(indptr[u + 1])):
                vi = indices[j]
                v = np.uint64(vi)
                if vi > u and core[v] and _sigma(counts[j], du, indptr[v + one] - indptr[v]) >= thr:
                    _union(par, np.int64(u), np.int64(vi))


@numba.njit
def _merge_and_number(parents, core, labels):   # forests -> labels (N,) int64, clusters by smallest core id
    n = parents.shape[1]
    par = parents[0]
    for p in range(1, parents.shape[0]):             # fold every other forest's links into the first
        other = parents[p]
        for x in range(n):
            if other[x] != x:
                _union(par, x, other[x])
    cid = np.full(n, -1, dtype=np.int64)
    k = 0
    for u in range(n):                               # ascending ids: a cluster is numbered at its smallest core
        if core[u]:
            r = _find(par, u)
            if cid[r] < 0:
                cid[r] = k
                k += 1
            labels[u] = cid[r]
        else:
            labels[u] = -1
    return k


@numba.njit(parallel=True)
def _borders_and_hubs(indptr, indices, counts, thr, core, core_labels, bounds, labels, roles):
    one = np.uint64(1)
    for b in numba.prange(len(bounds) - 1):
        for u in range(bounds[b], bounds[b + 1]):
            if core[u]:
                roles[u] = CORE
                continue
            du = indptr[u + 1] - indptr[u]
            best_s = -1.0
            best_l = -1
            for j in range(np.uint64(indptr[u]), np.uint64(indptr[u + 1])):   # the most similar core
                v = np.uint64(indices[j])
                if core[v]:
                    s = _sigma(counts[j], du, indptr[v + one] - indptr[v])
                    if s >= thr:
                        lv = core_labels[v]
                        if s > best_s or (s == best_s and lv < best_l):
                            best_s, best_l = s, lv
            if best_l >= 0:
                labels[u] = best_l
                roles[u] = BORDER
            else:
                labels[u] = -1
                roles[u] = OUTLIER


@numba.njit(parallel=True)
def _hubs(indptr, indices, labels, bounds, roles):   # non-members adjacent (any edge) to >= 2 clusters
    for b in numba.prange(len(bounds) - 1):
        for u in range(bounds[b], bounds[b + 1]):
            if labels[u] >= 0:
                continue
            first = -1
            for j in range(np.uint64(indptr[u]), np.uint64(indptr[u + 1])):
                lv = labels[np.uint64(indices[j])]
                if lv >= 0:
                    if first < 0:
                        first = lv
                    elif lv != first:
                        roles[u] = HUB
                        break


def scan_from_counts(graph, counts: np.ndarray, eps: float, mu: int, include_self: bool = False):
    """SCAN from precomputed ``common_counts`` -> ``scan.ScanResult`` (labels (N,) int64, roles (N,) int8)."""
    from apps.spa_graph.scan import ScanResult, check_scan_params

    eps, mu = check_scan_params(eps, mu)
    g = as_csr_graph(graph)
    n = g.num_nodes
    if counts.shape != g.indices.shape:
        raise ValueError(f"counts must have one entry per CSR entry: {g.indices.shape}, got {counts.shape}")
    thr = eps - SIGMA_TOL
    need = mu - (1 if include_self else 0)
    bounds = _blocks(g.indptr)
    core = np.empty(n, dtype=np.bool_)
    with numba.parallel_chunksize(1):
        _cores(g.indptr, g.indices, counts, thr, need, bounds, core)
        parts = row_blocks(g.indptr, max(1, numba.get_num_threads()))
        parents = np.empty((len(parts) - 1, n), dtype=np.int32 if n < 2 ** 31 else np.int64)
        _forests(g.indptr, g.indices, counts, thr, core, parts, parents)
    core_labels = np.empty(n, dtype=np.int64)
    k = _merge_and_number(parents, core, core_labels)
    del parents
    labels = core_labels.copy()
    roles = np.empty(n, dtype=np.int8)
    with numba.parallel_chunksize(1):
        _borders_and_hubs(g.indptr, g.indices, counts, thr, core, core_labels, bounds, labels, roles)
        del core_labels
        _hubs(g.indptr, g.indices, labels, bounds, roles)
    return ScanResult(labels=labels, roles=roles, num_clusters=int(k))


def scan_csr(graph, eps: float = 0.5, mu: int = 3, include_self: bool = False, counts: np.ndarray | None = None):
    """Compiled SCAN on a CSRGraph or a clean scipy adjacency -> ``scan.ScanResult`` (the numpy reference's rules)."""
    g = as_csr_graph(graph)
    if counts is None:
        counts = common_counts(g)
    return scan_from_counts(g, counts, eps, mu, include_self)


def compile_seconds() -> float:
    """Compile the kernels SCAN runs (default "mark" counts, sigma, clustering) on a tiny graph -> wall seconds
    it took (about 0 when already compiled)."""
    t0 = time.perf_counter()
    g = CSRGraph(np.array([0, 2, 4, 6], dtype=np.int64), np.array([1, 2, 0, 2, 0, 1], dtype=np.int32))
    counts = common_counts(g)
    edge_sigma(g, counts)
    scan_from_counts(g, counts, 0.5, 2)
    return time.perf_counter() - t0
