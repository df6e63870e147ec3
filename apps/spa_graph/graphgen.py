"""Large graphs with planted communities and power-law degrees, sampled with vectorised numpy, deterministic by seed.

The model (a degree-corrected planted partition, Chung-Lu inside communities):

* ``N = round(2 * num_edges / mean_degree)`` nodes; community sizes drawn from a power law (exponent
  ``community_exponent``) on [``min_community``, ``max_community``] until they cover N; community c owns
  the contiguous ids ``[starts[c], starts[c + 1])`` (``relabel="random"`` permutes the ids afterwards).
* node weights w ~ Pareto with exponent ``degree_exponent`` (P(w) ~ w^-gamma), capped at ``max_degree`` / min
  weight; a node's expected number of edge endpoints is proportional to its weight.
* each of the ``num_edges`` samples: u drawn over all nodes in proportion to w; with probability
  ``1 - mixing`` v is drawn in proportion to w inside u's community, else over all nodes. Self loops and
  duplicate pairs are dropped when the CSR is built, so the graph has fewer unique edges than samples
  (``PlantedGraph.num_edges`` says how many).

Sampling in proportion to w uses an index ("guide") table over the cumulative weights: one gather and a
couple of vectorised steps per draw, no binary search over N. Samples are drawn in chunks from
``np.random.default_rng([seed, chunk])``, so a graph depends only on its arguments; memory is the (E,) int32
samples plus ``csr_build``'s arrays (about 16 bytes per input edge at the peak).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.spa_graph.csr import CSRGraph
from apps.spa_graph.csr_build import csr_from_edges

__all__ = ["PlantedGraph", "planted_powerlaw_graph", "planted_powerlaw_edges", "community_sizes", "RELABEL"]

RELABEL = ("community", "random")
_CHUNK = 1 << 22
_SCIPY_BUILD_EDGES = 1_000_000   # below this many samples "auto" builds the CSR with scipy (no numba compile)


@dataclass(frozen=True)
class PlantedGraph:
    graph: CSRGraph
    community_starts: np.ndarray   # (C + 1,) int64: community c = ids [starts[c], starts[c + 1]) before relabelling
    perm: np.ndarray | None        # (N,) int32 new id of each original id (relabel="random"), else None
    input_edges: int               # samples drawn (the "input edges" of the benchmarks)
    seed: int

    @property
    def num_nodes(self) -> int:
        return self.graph.num_nodes

    @property
    def num_edges(self) -> int:
        return self.graph.num_edges

    def communities(self) -> np.ndarray:
        """(N,) int32 planted community of every node (in the graph's ids)."""
        sizes = np.diff(self.community_starts)
        lab = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        if self.perm is None:
            return lab
        out = np.empty_like(lab)
        out[self.perm] = lab
        return out

    def stats(self) -> dict:
        deg = self.graph.degrees()
        return {"input_edges": self.input_edges, "nodes": self.num_nodes, "edges": self.num_edges,
                "communities": len(self.community_starts) - 1, "mean_degree": float(deg.mean()),
                "max_degree": int(deg.max()), "isolated": int((deg == 0).sum())}


def _check(num_edges, mean_degree, degree_exponent, mixing, min_community, max_community, community_exponent,
           relabel):
    if isinstance(num_edges, bool) or int(num_edges) != num_edges or int(num_edges) < 1:
        raise ValueError(f"num_edges={num_edges} must be an integer >= 1")
    if not mean_degree > 0:
        raise ValueError(f"mean_degree={mean_degree} must be > 0")
    if not degree_exponent > 2:
        raise ValueError(f"degree_exponent={degree_exponent} must be > 2 (a finite mean degree)")
    if not 0.0 <= mixing <= 1.0:
        raise ValueError(f"mixing={mixing} must be in [0, 1]")
    if not (1 <= int(min_community) <= int(max_community)):
        raise ValueError(f"need 1 <= min_community={min_community} <= max_community={max_community}")
    if not community_exponent > 1:
        raise ValueError(f"community_exponent={community_exponent} must be > 1")
    if relabel not in RELABEL:
        raise ValueError(f"relabel={relabel!r}; choose one of {list(RELABEL)}")


def community_sizes(num_nodes: int, min_size: int, max_size: int, exponent: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Power-law community sizes on [min_size, max_size] summing to ``num_nodes`` -> (C,) int64.
    The last size is cut to fit; a remainder below ``min_size`` joins the previous community."""
    min_size = min(int(min_size), int(num_nodes))
    max_size = max(min(int(max_size), int(num_nodes)), min_size)
    a = 1.0 - float(exponent)
    lo, hi = float(min_size) ** a, float(max_size + 1) ** a
    sizes = np.empty(0, dtype=np.int64)
    total = 0
    while total < num_nodes:                      # loop over batches of draws (one or two at most)
        k = max(16, int(2 * (num_nodes - total) / min_size))
        draw = np.floor((lo + (hi - lo) * rng.random(k)) ** (1.0 / a)).astype(np.int64)
        draw = np.clip(draw, min_size, max_size)
        sizes = np.concatenate([sizes, draw])
        total = int(sizes.sum())
    cum = np.cumsum(sizes)
    c = int(np.searchsorted(cum, num_nodes))      # first community reaching num_nodes
    sizes = sizes[:c + 1].copy()
    sizes[-1] -= int(cum[c]) - num_nodes
    if len(sizes) > 1 and sizes[-1] < min_size:
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    return sizes


class _Picker:
    """Draws ids in proportion to weights: cumulative sums plus a guide table (Chen & Asau's index method)."""

    def __init__(self, weights: np.ndarray):
        self.cum = np.cumsum(weights, dtype=np.float64)            # (K,)
        self.total = float(self.cum[-1])
        m = len(weights)
        self.scale = m / self.total
        grid = np.arange(m, dtype=np.float64) / self.scale
        self.guide = np.searchsorted(self.cum, grid, side="right").astype(np.int32 if m < 2 ** 31 else np.int64)

    def pick(self, r: np.ndarray) -> np.ndarray:
        """(S,) values in [0, total) -> (S,) int64 ids i with cum[i-1] <= r < cum[i]."""
        cell = np.minimum((r * self.scale).astype(np.int64), len(self.guide) - 1)
        idx = self.guide[cell].astype(np.int64)
        last = len(self.cum) - 1
        while True:                                # a few steps: ids whose cell starts below them
            more = self.cum[idx] <= r
            more &= idx < last
            if not more.any():
                return idx
            idx[more] += 1


def planted_powerlaw_edges(num_edges: int, *, mean_degree: float = 16.0, degree_exponent: float = 2.5,
                           max_degree: int | None = None, mixing: float = 0.2, min_community: int = 16,
                           max_community: int = 1024, community_exponent: float = 2.0, seed: int = 0):
    """-> ((E,) int32 u, (E,) int32 v, (C + 1,) int64 community starts, N): the raw samples of the model above."""
    _check(num_edges, mean_degree, degree_exponent, mixing, min_community, max_community, community_exponent,
           "community")
    e = int(num_edges)
    n = max(2, int(round(2 * e / float(mean_degree))))
    rng = np.random.default_rng([int(seed), 0])
    sizes = community_sizes(n, min_community, max_community, community_exponent, rng)
    starts = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    if max_degree is None:
        max_degree = int(min(1024, 8 * np.sqrt(n)))
    # Pareto weights (P(w) ~ w^-gamma, w >= 1) capped at c: a node's expected degree is mean_degree * w / E[w],
    # so c solves c = max_degree * E[min(W, c)] / mean_degree with E[min(W, c)] = (a - c^(1-a)) / (a - 1), a = gamma-1
    a = float(degree_exponent) - 1.0
    c = 1.0
    for _ in range(100):                          # fixed point, converges in a few steps
        c = max(1.0, float(max_degree) / float(mean_degree) * (a - c ** (1.0 - a)) / (a - 1.0))
    w = (1.0 - rng.random(n)) ** (-1.0 / a)
    np.minimum(w, c, out=w)
    nodes = _Picker(w)
    comm_w = np.diff(np.r_[0.0, nodes.cum[starts[1:] - 1]])       # (C,) total weight per community
    comm_before = nodes.cum[starts[:-1] - 1] if len(starts) > 1 else np.zeros(0)
    comm_before = np.where(starts[:-1] > 0, comm_before, 0.0)
    comms = _Picker(comm_w)
    del w
    u_out = np.empty(e, dtype=np.int32)
    v_out = np.empty(e, dtype=np.int32)
    for k, lo in enumerate(range(0, e, _CHUNK)):  # loop over chunks of samples, each vectorised
        hi = min(e, lo + _CHUNK)
        r = np.random.default_rng([int(seed), 1, k])
        s = hi - lo
        cu = comms.pick(r.random(s) * comms.total)                 # u's community ~ its weight
        u = nodes.pick(comm_before[cu] + r.random(s) * comm_w[cu])
        inside = r.random(s) >= mixing
        rv = r.random(s)
        target = np.where(inside, comm_before[cu] + rv * comm_w[cu], rv * nodes.total)
        v = nodes.pick(np.minimum(target, np.nextafter(nodes.total, 0)))
        u_out[lo:hi] = u
        v_out[lo:hi] = v
    return u_out, v_out, starts, n


def planted_powerlaw_graph(num_edges: int, *, mean_degree: float = 16.0, degree_exponent: float = 2.5,
                           max_degree: int | None = None, mixing: float = 0.2, min_community: int = 16,
                           max_community: int = 1024, community_exponent: float = 2.0, relabel: str = "community",
                           seed: int = 0, build: str = "auto") -> PlantedGraph:
    """``num_edges`` samples of the planted power-law model -> PlantedGraph (symmetric CSR, sorted rows).

    ``relabel="community"`` keeps each community's ids contiguous (neighbours are mostly close in memory, as
    in a graph stored in crawl or community order); ``"random"`` permutes the ids (the worst case for caches).
    ``build``: how the CSR is assembled, the same arrays either way (tested): "compiled" (``csr_build``, lean
    at 1e8 edges), "scipy" (``graph.clean_adjacency``; no numba compile), "auto": scipy below
    ``_SCIPY_BUILD_EDGES`` samples.
    """
    if build not in ("auto", "compiled", "scipy"):
        raise ValueError(f"build={build!r}; choose one of ['auto', 'compiled', 'scipy']")
    _check(num_edges, mean_degree, degree_exponent, mixing, min_community, max_community, community_exponent,
           relabel)
    u, v, starts, n = planted_powerlaw_edges(num_edges, mean_degree=mean_degree, degree_exponent=degree_exponent,
                                             max_degree=max_degree, mixing=mixing, min_community=min_community,
                                             max_community=max_community, community_exponent=community_exponent,
                                             seed=seed)
    perm = None
    if relabel == "random":
        perm = np.random.default_rng([int(seed), 2]).permutation(n).astype(np.int32)
        u = perm[u]
        v = perm[v]
    if build == "scipy" or (build == "auto" and int(num_edges) < _SCIPY_BUILD_EDGES):
        from apps.spa_graph.graph import clean_adjacency

        adj = clean_adjacency(np.stack([u, v]), n).adj
        graph = CSRGraph.from_scipy(adj, check=False)
    else:
        graph = csr_from_edges(u, v, n)
    return PlantedGraph(graph, starts, perm, int(num_edges), int(seed))
