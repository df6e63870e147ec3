"""Speed measurements: query time per method and dataset, and SCAN + PageRank time against edges.

python -m apps.spa_graph.speed queries --datasets cora citeseer minesweeper --budget 40 --out q.jsonl
python -m apps.spa_graph.speed scaling --edges 100000 1000000 10000000 --out s.jsonl
Each selector runs from scratch (fresh cache) so its query time includes everything it computes. Per-stage CPU
time and peak RSS on planted power-law graphs up to 1e8 edges: ``python -m apps.spa_graph.scale_profile``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from apps.spa_graph.data import load_dataset, sbm_edges
from apps.spa_graph.graph import clean_adjacency
from apps.spa_graph.pagerank import pagerank
from apps.spa_graph.protocol import TrainConfig
from apps.spa_graph.scan import scan
from apps.spa_graph.selectors import METHODS, SelectionContext, select


def query_times(dataset: str, methods, budget: int, seed: int = 0, epochs: int = 300) -> list[dict]:
    data = load_dataset(dataset)
    out = []
    for m in methods:
        ctx = SelectionContext(data, train=TrainConfig(epochs=epochs))
        _, q = ctx.timed(select, m, ctx, budget, seed)
        out.append({"dataset": dataset, "method": m, "budget": budget, "query_s": q, "edges": data.num_edges})
        print(json.dumps(out[-1]), flush=True)
    return out


def scan_pagerank_time(num_edges: int, seed: int = 0, avg_degree: float = 20.0) -> dict:
    """SCAN (eps 0.5, mu 3) + PageRank (0.95, the SPA rule's networkx stopping rule) seconds on an SBM graph of
    about ``num_edges`` edges, with the default engines (compiled from ``scan.AUTO_COMPILED_NNZ`` entries).
    numba's compile time is paid before the clock starts and returned apart as ``compile_s``."""
    from apps.spa_graph.pagerank import AUTO_COMPILED_NNZ as PR_NNZ
    from apps.spa_graph.scan import AUTO_COMPILED_NNZ as SCAN_NNZ

    n = max(1000, int(num_edges * 2 / avg_degree))
    ei, _ = sbm_edges(n, max(2, n // 100), avg_degree, 0.9, seed=seed)
    adj = clean_adjacency(ei, n).adj
    t0 = time.perf_counter()
    if adj.nnz >= min(SCAN_NNZ, PR_NNZ):
        from apps.spa_graph.csr import CSRGraph
        from apps.spa_graph.scan_compiled import compile_seconds

        compile_seconds()
        tiny = CSRGraph(np.array([0, 1, 2], dtype=np.int64), np.array([1, 0], dtype=np.int32))
        pagerank(tiny, 0.95, engine="compiled")
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = scan(adj, 0.5, 3)
    t1 = time.perf_counter()
    pagerank(adj, 0.95)
    t2 = time.perf_counter()
    return {"nodes": n, "edges": adj.nnz // 2, "scan_s": t1 - t0, "pagerank_s": t2 - t1, "total_s": t2 - t0,
            "clusters": res.num_clusters, "compile_s": compile_s}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m apps.spa_graph.speed")
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("queries")
    q.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    q.add_argument("--methods", nargs="+", default=list(METHODS))
    q.add_argument("--budget", type=int, default=40)
    q.add_argument("--epochs", type=int, default=300)
    q.add_argument("--out", default=None)
    s = sub.add_parser("scaling")
    s.add_argument("--edges", nargs="+", type=int, default=[100_000, 300_000, 1_000_000])
    s.add_argument("--out", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    if a.cmd == "queries":
        for d in a.datasets:
            rows += query_times(d, a.methods, a.budget, epochs=a.epochs)
    else:
        for e in a.edges:
            rows.append(scan_pagerank_time(e))
            print(json.dumps(rows[-1]), flush=True)
    if a.out:
        with open(a.out, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
