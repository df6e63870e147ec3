"""The official SPA notebook's selection, computed with cdlib and networkx themselves (test reference).

Follows rickymaulanafajri/SPA, SPA.ipynb cell 4 (``SCANPageRankOptimized.query``) and cell 7 (``test``
seeds Python's ``random`` first): G = nx.from_numpy_array(A); PageRank = nx.pagerank(G, alpha=0.95,
max_iter=400, tol=1e-6); after random.seed(seed), communities = cdlib.algorithms.scan(G, 0.5, 3).communities;
one pass giving each community its max(1, remaining // k) top-PageRank members; the first b kept. Where
one pass places fewer than b nodes the notebook loops forever (cdlib 0.3.0) or re-selects duplicates
(0.4.1); the reference then fills with the highest-PageRank remaining nodes (the paper's Sec. 4.2).

``python -m tests.apps.spa_graph.official_reference`` rewrites fixtures/official_selection.json (needs cdlib).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "official_selection.json"
CASES = {"citeseer": {"seeds": [0, 1, 43], "budgets": [10, 40, 160, 240]},
         "cora": {"seeds": [0, 1, 43], "budgets": [10, 40, 160, 200]}}


def notebook_selection(adj, budget: int, seed: int) -> list[int]:
    import networkx as nx
    from cdlib import algorithms

    g = nx.from_numpy_array(adj.toarray())
    pr = nx.pagerank(g, alpha=0.95, max_iter=400, tol=1.0e-6)
    random.seed(seed)
    communities = algorithms.scan(g, epsilon=0.5, mu=3).communities
    selected, remaining = [], budget
    for community in communities:
        ranked = sorted([(node, pr[node]) for node in community], key=lambda t: t[1], reverse=True)
        num = max(1, remaining // len(communities))
        selected.extend(node for node, _ in ranked[:num])
        remaining -= num
    selected = selected[:budget]
    if len(selected) < budget:
        rest = [node for node, _ in sorted(pr.items(), key=lambda t: t[1], reverse=True) if node not in selected]
        selected.extend(rest[: budget - len(selected)])
    return [int(v) for v in selected]


def main() -> None:
    from apps.spa_graph.data import load_dataset

    out = {}
    for name, case in CASES.items():
        adj = load_dataset(name).adj
        out[name] = {str(s): {str(b): notebook_selection(adj, b, s) for b in case["budgets"]} for s in case["seeds"]}
    import cdlib
    FIXTURE.write_text(json.dumps({"cdlib": cdlib.__version__, "selections": out}, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
