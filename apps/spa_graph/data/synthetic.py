"""Synthetic graphs with planted communities: a fast vectorized SBM (scales to 10M edges) and LFR (networkx)."""
from __future__ import annotations

import numpy as np

from apps.spa_graph.data.datasets import GraphData, from_tensors

__all__ = ["sbm_edges", "sbm_graph", "lfr_graph"]


def sbm_edges(num_nodes: int, num_blocks: int, avg_degree: float, p_in_fraction: float = 0.8,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Planted-partition SBM -> ((2, E) directed edge samples, (N,) block labels).

    About ``num_nodes * avg_degree / 2`` undirected edges, a fraction ``p_in_fraction`` of them
    inside blocks; endpoints drawn uniformly (duplicates and loops are removed by clean_adjacency).
    """
    if num_nodes < num_blocks or num_blocks < 1:
        raise ValueError(f"need num_nodes={num_nodes} >= num_blocks={num_blocks} >= 1")
    if not (0.0 <= p_in_fraction <= 1.0) or avg_degree <= 0:
        raise ValueError(f"p_in_fraction={p_in_fraction} must be in [0, 1] and avg_degree={avg_degree} > 0")
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.integers(0, num_blocks, num_nodes))
    labels[:num_blocks] = np.arange(num_blocks)
    labels = np.sort(labels)
    starts = np.searchsorted(labels, np.arange(num_blocks))
    sizes = np.bincount(labels, minlength=num_blocks)
    m = int(round(num_nodes * avg_degree / 2))
    m_in = int(round(m * p_in_fraction))
    u = rng.integers(0, num_nodes, m_in)
    b = labels[u]
    v = starts[b] + (rng.random(m_in) * sizes[b]).astype(np.int64)
    uo = rng.integers(0, num_nodes, m - m_in)
    vo = rng.integers(0, num_nodes, m - m_in)
    return np.stack([np.concatenate([u, uo]), np.concatenate([v, vo])]), labels


def _features(labels: np.ndarray, dim: int, noise: float, rng) -> np.ndarray:
    k = int(labels.max()) + 1
    centres = rng.normal(size=(k, dim))
    return (centres[labels] + noise * rng.normal(size=(len(labels), dim))).astype(np.float32)


def sbm_graph(num_nodes: int = 600, num_blocks: int = 4, avg_degree: float = 8.0, p_in_fraction: float = 0.85,
              feature_dim: int = 16, noise: float = 2.0, seed: int = 0) -> GraphData:
    """Labelled SBM graph: labels = blocks, features = block centre + Gaussian noise."""
    ei, labels = sbm_edges(num_nodes, num_blocks, avg_degree, p_in_fraction, seed)
    x = _features(labels, feature_dim, noise, np.random.default_rng(seed + 1))
    return from_tensors("sbm", x, labels, ei)


def lfr_graph(num_nodes: int = 250, mu: float = 0.1, feature_dim: int = 16, noise: float = 2.0,
              seed: int = 0) -> GraphData:
    """LFR benchmark graph (networkx; small sizes only), labels = planted communities (largest first)."""
    import networkx as nx

    g = nx.LFR_benchmark_graph(num_nodes, 3, 1.5, mu, average_degree=5, min_community=20, seed=seed, max_iters=1000)
    comms = sorted({frozenset(g.nodes[v]["community"]) for v in g}, key=lambda c: (-len(c), min(c)))
    labels = np.empty(num_nodes, dtype=np.int64)
    for i, c in enumerate(comms):
        labels[list(c)] = i
    ei = np.array(list(g.edges()), dtype=np.int64).T.reshape(2, -1)
    x = _features(labels, feature_dim, noise, np.random.default_rng(seed + 1))
    return from_tensors("lfr", x, labels, ei)
