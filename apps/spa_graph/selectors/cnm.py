"""Clauset-Newman-Moore greedy modularity, with the bookkeeping (and so the tie order) of GraphPart's copy.

GraphPart (Mars-tin/GraphPart ``partition.py`` 36-227, ``GraphPartition.clauset_newman_moore``) uses a
modified 2021 networkx CNM: per-community max-heaps of dQ (networkx's ``MappedQueue``) and a heap of row
maxima; each step merges the pair with the largest dQ (ties: the smallest ids) until dQ <= 0. Today's
``networkx.community.greedy_modularity_communities`` (3.x) gives different communities on Cora (106 vs 105)
and CiteSeer (438 vs 439), so GraphPart's partitions come out different; this module follows GraphPart's
update order step by step (integer labels = the graph's node order, dict and set iteration as there),
so the communities are the same. Our code; the algorithm is CNM (Clauset, Newman, Moore 2004, Eq. 8-10).

The graph is GraphPart's ``data.g``: built from the edge list in CSR (row-major) order, so isolated nodes
are absent and node order is the order of first appearance.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["graphpart_cnm"]


def graphpart_cnm(adj: sp.csr_matrix) -> list[np.ndarray]:
    """(N, N) clean adjacency -> communities of the non-isolated nodes, largest first (stable)."""
    import networkx as nx
    from networkx.utils.mapped_queue import MappedQueue

    coo = sp.csr_matrix(adj).tocoo()
    g = nx.Graph()
    g.add_edges_from(zip(coo.row.tolist(), coo.col.tolist()))
    g = g.to_undirected()                                   # dataset.py 86: the copy fixes the neighbour order
    n = g.number_of_nodes()
    m = g.number_of_edges()
    if m == 0:
        return []
    q0 = 1.0 / (2.0 * m)
    label = list(g.nodes())                                 # integer label -> node
    index = {v: i for i, v in enumerate(label)}
    k = [g.degree(label[i]) for i in range(n)]
    comms = {i: frozenset([i]) for i in range(n)}
    a = [k[i] * q0 for i in range(n)]
    dq = {i: {j: 2 * q0 - 2 * k[i] * k[j] * q0 * q0 for j in [index[u] for u in g.neighbors(label[i])] if j != i}
          for i in range(n)}
    heaps = [MappedQueue([(-d, i, j) for j, d in dq[i].items()]) for i in range(n)]
    top = MappedQueue([heaps[i].heap[0] for i in range(n) if len(heaps[i]) > 0])
    while len(top) > 1:                                     # one merge per step
        try:
            neg, i, j = top.pop()
        except IndexError:
            break
        d = -neg
        heaps[i].pop()
        if len(heaps[i]) > 0:
            top.push(heaps[i].heap[0])
        if heaps[j].heap[0] == (-d, j, i):
            top.remove((-d, j, i))
            heaps[j].remove((-d, j, i))
            if len(heaps[j]) > 0:
                top.push(heaps[j].heap[0])
        else:
            heaps[j].remove((-d, j, i))
        if d <= 0:                                          # no merge raises modularity
            break
        comms[j] = frozenset(comms[i] | comms[j])
        del comms[i]
        i_set, j_set = set(dq[i].keys()), set(dq[j].keys())
        for t in (i_set | j_set) - {i, j}:                  # Eq. 10a-c: dQ of the merged community with t
            if t in i_set and t in j_set:
                d_jt = dq[j][t] + dq[i][t]
            elif t in j_set:
                d_jt = dq[j][t] - 2.0 * a[i] * a[t]
            else:
                d_jt = dq[i][t] - 2.0 * a[j] * a[t]
            for row, col in ((j, t), (t, j)):
                old = (-dq[row][col], row, col) if t in j_set else None
                dq[row][col] = d_jt
                oldmax = heaps[row].heap[0] if len(heaps[row]) > 0 else None
                new = (-d_jt, row, col)
                if old is None:
                    heaps[row].push(new)
                else:
                    heaps[row].update(old, new)
                if oldmax is None:
                    top.push(new)
                elif heaps[row].heap[0] != oldmax:
                    top.update(oldmax, heaps[row].heap[0])
        for t in dq[i].keys():                              # drop row and column i
            d_old = dq[t][i]
            del dq[t][i]
            if t != j:
                for row, col in ((t, i), (i, t)):
                    e = (-d_old, row, col)
                    if heaps[row].heap[0] == e:
                        heaps[row].remove(e)
                        top.remove(e)
                        if len(heaps[row]) > 0:
                            top.push(heaps[row].heap[0])
                    else:
                        heaps[row].remove(e)
        del dq[i]
        heaps[i] = MappedQueue()
        a[j] += a[i]
        a[i] = 0
    out = [np.sort(np.array([label[x] for x in c], dtype=np.int64)) for c in comms.values()]
    return sorted(out, key=len, reverse=True)
