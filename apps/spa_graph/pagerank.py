"""PageRank by power iteration on a scipy CSR adjacency or a ``CSRGraph`` (the same fixed point as networkx.pagerank).

Two stopping rules (``tol_rule``):

* ``"networkx"`` (the default, and what the official SPA rule needs): stop when the L1 change of one iteration is
  below ``N * tol``, ``tol = 1e-6`` -- networkx's rule, which the official notebook calls
  (``nx.pagerank(G, alpha=0.95, max_iter=400, tol=1e-6)``). The allowance grows with N: on graphs of a
  million nodes it stops after one or two iterations, far from the answer (issue 32: L1 error 0.17 at 1e6
  input edges). Kept for fidelity only.
* ``"l1"``: stop when the L1 change is below ``tol`` (default ``1e-10``), whatever N. For a stochastic
  iteration with damping d the error of the returned vector is at most d / (1 - d) times that change
  (1.9e-9 at d = 0.95), so it is converged in the sense of issue 32 (<= 1e-8 L1 from the fixed point).

Two engines (``engine``), the same iteration and the same floating-point operations per entry:

* ``"scipy"``: the project's original code, kept as the reference: a float64 copy of the adjacency, the row
  scaling ``diags(1/out) @ A`` and the transposed copy ``.T.tocsr()`` (about 3 extra copies of the graph).
* ``"compiled"`` (numba): no copy of the graph. On a symmetric adjacency the pull over row v of A is the pull
  over column v, so each iteration reads the CSR rows as they are, in parallel over rows, and writes
  x'[v] = d * (sum_{u in N(v)} w_uv * x[u] / out[u] + dangling / N) + (1 - d) / N; a directed or asymmetric
  matrix is pushed along its rows instead (one thread). Per-node values are bitwise those of the scipy engine
  on 0/1 graphs (same products, same summation order); only the L1 change is summed in another order.
* ``"auto"`` (default): ``"compiled"`` from ``AUTO_COMPILED_NNZ`` stored entries, ``"scipy"`` below (small
  graphs such as Cora and CiteSeer keep the original arithmetic exactly and pay no compile time).

Two methods (``method``, compiled engine only):

* ``"power"``: the power iteration above from the uniform vector (the only method of the networkx rule).
* ``"cg"`` (the default of the ``"l1"`` rule on a symmetric matrix): conjugate gradients first, then the power
  iteration from CG's answer until its L1 change is below ``tol`` -- the same stopping rule and the same error
  bound as ``"power"``, in 2-3x fewer passes over the graph. On an undirected graph the fixed point is
  x ~ (I - d A D^-1)^-1 1 (the dangling and teleport terms are a multiple of the ones vector; the
  normalisation fixes it), and with x = D^1/2 z this is the symmetric positive definite system
  (I - d D^-1/2 A D^-1/2) z = D^-1/2 1 (eigenvalues in [1 - d, 1 + d]); isolated nodes have x = 1 before
  normalising. CG stops at relative residual ``tol``; the power steps then certify the result.
"""
from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from apps.spa_graph.csr import CSRGraph

__all__ = ["pagerank", "TOL_RULES", "ENGINES", "METHODS", "DEFAULT_TOL", "AUTO_COMPILED_NNZ", "is_symmetric"]

TOL_RULES = ("networkx", "l1")
ENGINES = ("auto", "scipy", "compiled")
METHODS = ("power", "cg")
DEFAULT_TOL = {"networkx": 1e-6, "l1": 1e-10}
AUTO_COMPILED_NNZ = 2_000_000     # stored entries (2x undirected edges) from which "auto" picks "compiled"
_CG_SLACK = 10.0                   # CG stops at relative residual _CG_SLACK * tol; the power steps certify the rest
_BLOCKS = 256                     # fixed row blocks: the L1 change is summed per block, so it does not
                                  # depend on the number of threads


def _check(adj, damping, tol, max_iter, tol_rule, engine):
    if not (0.0 <= float(damping) < 1.0):
        raise ValueError(f"damping={damping} must be in [0, 1)")
    if tol_rule not in TOL_RULES:
        raise ValueError(f"tol_rule={tol_rule!r}; choose one of {list(TOL_RULES)}")
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}; choose one of {list(ENGINES)}")
    tol = DEFAULT_TOL[tol_rule] if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"tol={tol} must be > 0")
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or int(max_iter) < 1:
        raise ValueError(f"max_iter={max_iter} must be an integer >= 1")
    if isinstance(adj, CSRGraph):
        return tol
    if not sp.issparse(adj) or adj.shape[0] != adj.shape[1]:
        raise ValueError("adj must be a square scipy.sparse matrix or a CSRGraph")
    return tol


def _scipy_pagerank(adj, damping, tol, max_iter, tol_rule) -> np.ndarray:
    """The reference: the project's original scipy power iteration (copies the graph three times)."""
    n = adj.shape[0]
    a = sp.csr_matrix(adj, dtype=np.float64)
    out_w = np.asarray(a.sum(axis=1)).ravel()
    dangling = out_w == 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out_w))
    pt = (sp.diags(inv) @ a).T.tocsr()          # column-stochastic transition, transposed once
    x = np.full(n, 1.0 / n)
    stop = n * tol if tol_rule == "networkx" else tol
    for _ in range(max_iter):
        prev = x
        x = damping * (pt @ prev + prev[dangling].sum() / n) + (1.0 - damping) / n
        if np.abs(x - prev).sum() < stop:
            return x / x.sum()
    raise RuntimeError(f"pagerank did not converge in {max_iter} iterations (tol={tol}, tol_rule={tol_rule!r})")


@numba.njit
def _out_weights(indptr, data, out):              # (N+1,), (nnz,) weights or empty -> out (N,) row sums
    n = len(indptr) - 1
    for u in range(n):
        if len(data) == 0:
            out[u] = float(indptr[u + 1] - indptr[u])
        else:
            s = 0.0
            for j in range(indptr[u], indptr[u + 1]):
                s += float(data[j])
            out[u] = s


@numba.njit(parallel=True)
def _pull(indptr, indices, data, y, inv, x, c1, d, c2, bounds, x_new, y_new, err):
    # one iteration on a symmetric matrix: x_new[v] = d * (sum_u w_uv y[u] + c1) + c2, y = x * inv
    # (unsigned loop counters and ids: numba adds a negative-index wrap-around test to every signed index,
    # which costs ~40 % of this gather-bound loop)
    for b in numba.prange(len(bounds) - 1):          # loop over fixed row blocks
        e = 0.0
        for v in range(np.uint64(bounds[b]), np.uint64(bounds[b + 1])):
            s = 0.0
            lo, hi = np.uint64(indptr[v]), np.uint64(indptr[v + np.uint64(1)])
            if len(data) == 0:
                for j in range(lo, hi):
                    s += y[np.uint64(indices[j])]
            else:
                for j in range(lo, hi):
                    u = np.uint64(indices[j])
                    s += (inv[u] * float(data[j])) * x[u]
            xv = d * (s + c1) + c2
            x_new[v] = xv
            y_new[v] = xv * inv[v]
            e += abs(xv - x[v])
        err[b] = e


@numba.njit(parallel=True)
def _cg_matvec(indptr, indices, data, dm, q, p, d, bounds, ap, part):
    # ap = (I - d D^-1/2 A D^-1/2) p with q = dm * p; part[b] = block's share of p . ap
    for b in numba.prange(len(bounds) - 1):
        acc = 0.0
        for v in range(np.uint64(bounds[b]), np.uint64(bounds[b + 1])):
            s = 0.0
            lo, hi = np.uint64(indptr[v]), np.uint64(indptr[v + np.uint64(1)])
            if len(data) == 0:
                for j in range(lo, hi):
                    s += q[np.uint64(indices[j])]
            else:
                for j in range(lo, hi):
                    s += float(data[j]) * q[np.uint64(indices[j])]
            a = p[v] - d * (dm[v] * s)
            ap[v] = a
            acc += p[v] * a
        part[b] = acc


@numba.njit
def _cg_step(alpha, z, r, p, ap, bounds, part):   # z += alpha p, r -= alpha ap; part[b] = block's share of r . r
    for b in range(len(bounds) - 1):              # O(N), one thread (a parallel loop compiles slower than it saves)
        acc = 0.0
        for v in range(bounds[b], bounds[b + 1]):
            z[v] += alpha * p[v]
            rv = r[v] - alpha * ap[v]
            r[v] = rv
            acc += rv * rv
        part[b] = acc


@numba.njit
def _cg_direction(beta, r, p, q, dm, bounds):     # p = r + beta p, q = dm * p
    for b in range(len(bounds) - 1):
        for v in range(bounds[b], bounds[b + 1]):
            pv = r[v] + beta * p[v]
            p[v] = pv
            q[v] = dm[v] * pv


def _cg_start(indptr, indices, data, out_w, d, tol, max_iter, bounds) -> tuple[np.ndarray, int]:
    """Conjugate gradients on (I - d D^-1/2 A D^-1/2) z = D^-1/2 1 -> ((N,) start vector summing to 1, iterations)."""
    n = len(out_w)
    live = out_w > 0
    dm = np.zeros(n)
    dm[live] = 1.0 / np.sqrt(out_w[live])          # D^-1/2 (0 on isolated nodes)
    z = np.zeros(n)
    r = dm.copy()                                   # residual of z = 0: b = D^-1/2 1
    p = r.copy()
    q = dm * p
    ap = np.empty(n)
    part = np.zeros(len(bounds) - 1)
    rs = float(np.sum(r * r))
    stop = ((_CG_SLACK * tol) ** 2) * rs
    it = 0
    while rs > stop and it < max_iter:              # loop over CG iterations, each one pass over the graph
        _cg_matvec(indptr, indices, data, dm, q, p, d, bounds, ap, part)
        pap = part.sum()
        if not pap > 0:
            break
        alpha = rs / pap
        _cg_step(alpha, z, r, p, ap, bounds, part)
        rs_new = part.sum()
        _cg_direction(rs_new / rs, r, p, q, dm, bounds)
        rs = rs_new
        it += 1
    x = np.ones(n)                                  # isolated nodes: 1 before normalising
    x[live] = np.sqrt(out_w[live]) * z[live]
    np.maximum(x, 0.0, out=x)
    return x / x.sum(), it


@numba.njit
def _push(indptr, indices, data, inv, x, c1, d, c2, x_new):   # one iteration along the rows (any matrix)
    n = len(indptr) - 1
    for v in range(n):
        x_new[v] = 0.0
    for u in range(n):
        xu = x[u]
        for j in range(indptr[u], indptr[u + 1]):
            w = 1.0 if len(data) == 0 else float(data[j])
            x_new[indices[j]] += (inv[u] * w) * xu
    for v in range(n):
        x_new[v] = d * (x_new[v] + c1) + c2


@numba.njit
def _symmetric_rows(indptr, indices, data):       # every entry (u, v, w) has its mirror (v, u, w)
    n = len(indptr) - 1
    bad = 0
    for u in range(n):
        for j in range(indptr[u], indptr[u + 1]):
            v = indices[j]
            lo, hi = indptr[v], indptr[v + 1]
            while lo < hi:                            # binary search of u in row v (rows sorted)
                mid = (lo + hi) >> 1
                if indices[mid] < u:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == indptr[v + 1] or indices[lo] != u or (len(data) and data[lo] != data[j]):
                bad += 1
    return bad == 0


def _arrays(a) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sorted scipy CSR -> (indptr int64, indices int32, weights float64 or empty for 0/1): one signature for
    every kernel, so each compiles once (indptr is N + 1 long; indices and weights are copied only when their
    dtype differs, i.e. int64 indices or weighted graphs)."""
    indptr = np.asarray(a.indptr, dtype=np.int64)
    indices = np.asarray(a.indices, dtype=np.int32)
    data = np.empty(0, dtype=np.float64) if _unit_weights(a) else np.asarray(a.data, dtype=np.float64)
    return indptr, indices, data


def is_symmetric(adj) -> bool:
    """True when every stored entry (u, v, w) of a CSR matrix has the mirror (v, u, w); no copy (sorts rows if needed)."""
    if isinstance(adj, CSRGraph):
        return True
    a = adj if sp.isspmatrix_csr(adj) or isinstance(adj, sp.csr_array) else sp.csr_matrix(adj)
    if not a.has_sorted_indices:
        a = a.copy()
        a.sort_indices()
    return bool(_symmetric_rows(*_arrays(a)))


def _unit_weights(adj) -> bool:
    return isinstance(adj, CSRGraph) or bool(np.all(adj.data == 1))


def _compiled_pagerank(adj, damping, tol, max_iter, tol_rule, symmetric, method, info) -> np.ndarray:
    if isinstance(adj, CSRGraph):
        indptr, indices, data = adj.indptr, adj.indices, np.empty(0, dtype=np.float64)
        n = adj.num_nodes
    else:
        a = adj if sp.isspmatrix_csr(adj) or isinstance(adj, sp.csr_array) else sp.csr_matrix(adj)
        if not a.has_sorted_indices:
            a = a.copy()
            a.sort_indices()
        indptr, indices, data = _arrays(a)
        n = a.shape[0]
        if symmetric is None:
            symmetric = is_symmetric(a)
    symmetric = True if symmetric is None else bool(symmetric)
    if method is None:
        method = "cg" if tol_rule == "l1" and symmetric else "power"
    if method == "cg" and not (tol_rule == "l1" and symmetric):
        raise ValueError("method='cg' needs tol_rule='l1' and a symmetric matrix")
    out_w = np.empty(n, dtype=np.float64)
    _out_weights(indptr, data, out_w)
    bounds = np.linspace(0, n, _BLOCKS + 1).astype(np.int64)
    if method == "cg":
        x, cg_iters = _cg_start(indptr, indices, data, out_w, float(damping), tol, int(max_iter), bounds)
    else:
        x, cg_iters = np.full(n, 1.0 / n), 0
    dang = np.flatnonzero(out_w == 0)                # (D,) dangling node ids
    with np.errstate(divide="ignore"):
        inv = 1.0 / out_w
    inv[dang] = 0.0
    del out_w
    x_new = np.empty(n)
    y = x * inv
    y_new = np.empty(n)
    err = np.zeros(len(bounds) - 1)
    stop = n * tol if tol_rule == "networkx" else tol
    d, c2 = float(damping), (1.0 - damping) / n
    for it in range(int(max_iter)):
        c1 = x[dang].sum() / n                        # the reference's prev[dangling].sum() / n
        if symmetric:
            _pull(indptr, indices, data, y, inv, x, c1, d, c2, bounds, x_new, y_new, err)
            change = err.sum()
        else:
            _push(indptr, indices, data, inv, x, c1, d, c2, x_new)
            change = np.abs(x_new - x).sum()
        x, x_new = x_new, x
        y, y_new = y_new, y                           # (the push engine does not read y)
        if change < stop:
            if info is not None:
                info.update(method=method, power_iterations=it + 1, cg_iterations=cg_iters, last_change=float(change))
            return x / x.sum()
    raise RuntimeError(f"pagerank did not converge in {max_iter} iterations (tol={tol}, tol_rule={tol_rule!r})")


def pagerank(adj, damping: float = 0.85, tol: float | None = None, max_iter: int = 1000, *,
             tol_rule: str = "networkx", engine: str = "auto", symmetric: bool | None = None,
             method: str | None = None, info: dict | None = None) -> np.ndarray:
    """(N, N) adjacency (scipy, weights allowed) or CSRGraph -> (N,) PageRank summing to 1.

    Dangling nodes (no out-edges, e.g. isolated ones) spread their mass uniformly, as networkx does.
    ``tol_rule``/``engine``: see the module docstring; ``tol=None`` takes ``DEFAULT_TOL[tol_rule]``.
    ``symmetric``: whether the matrix equals its transpose (the compiled engine then pulls in parallel);
    None checks it (no copy; a CSRGraph is symmetric by construction). ``method``: "power" | "cg" (compiled
    engine; None = "cg" for the l1 rule on a symmetric matrix, else "power"). ``info``: a dict filled with the
    method and iteration counts. ValueError for damping outside [0, 1), an unknown rule, engine or method,
    tol <= 0; RuntimeError if it does not converge in ``max_iter`` (power) iterations.
    """
    tol = _check(adj, damping, tol, max_iter, tol_rule, engine)
    if method is not None and method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {list(METHODS)}")
    n = adj.num_nodes if isinstance(adj, CSRGraph) else adj.shape[0]
    if n == 0:
        return np.zeros(0)
    nnz = len(adj.indices) if isinstance(adj, CSRGraph) else adj.nnz
    if engine == "auto":
        engine = "compiled" if nnz >= AUTO_COMPILED_NNZ else "scipy"
    if engine == "scipy":
        if method == "cg":
            raise ValueError("method='cg' needs engine='compiled' (or 'auto' on a large graph)")
        if info is not None:
            info.update(method="power", engine="scipy")
        return _scipy_pagerank(adj.to_scipy() if isinstance(adj, CSRGraph) else adj, damping, tol, max_iter,
                               tol_rule)
    if info is not None:
        info.update(engine="compiled")
    with numba.parallel_chunksize(1):             # threads take row blocks as they free up (a loaded core lags)
        return _compiled_pagerank(adj, damping, tol, max_iter, tol_rule, symmetric, method, info)
