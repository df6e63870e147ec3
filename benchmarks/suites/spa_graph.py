"""apps/spa_graph: SPA (SCAN + PageRank) graph active learning vs its baselines, and SCAN + PageRank speed.

Quality: per (dataset, budget) cell, the better SPA mode's mean macro-F1 against the best baseline's
(target: ratio >= 1, i.e. SPA best), the fraction of cells SPA wins (target >= 0.5), and SPA within
two standard deviations of the best baseline (target: gap <= 2 std). Speed: SPA's query time against
GraphPart's on the same graph (target <= 0.1x); SCAN + PageRank on a synthetic SBM graph of
1,000,000 edges (target <= 10 s; quick/full) and a curve of time against edges (to 10M in full).
smoke: a 200-node SBM graph, SPA vs Random, 20 epochs, 1 seed. quick: Cora + CiteSeer at budget 40,
SPA (both modes) vs Random, FeatProp, GraphPart, 2 seeds, 60 epochs. full: the issue's grid (all
packaged graphs, budgets 10..160, every method, 10 seeds, 300 epochs) -- hours on a CPU.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from apps.spa_graph.data import load_dataset, sbm_graph
from apps.spa_graph.experiment import run_grid, summarize
from apps.spa_graph.protocol import TrainConfig
from apps.spa_graph.selectors import METHODS, SelectionContext, select
from apps.spa_graph.speed import scan_pagerank_time
from core.plotting import save_figure

NAME = "spa_graph"
DESCRIPTION = "SPA graph active learning: macro-F1 vs best baseline, query time vs GraphPart, SCAN+PageRank scaling"


def _plan(ctx):
    return ctx.sizes(
        smoke=dict(datasets=["sbm"], methods=["spa_faithful", "random"], budgets=[8], seeds=1, epochs=20,
                   speed_method="graphpart", big_edges=None, curve=[3_000, 10_000, 30_000]),
        quick=dict(datasets=["cora", "citeseer"], methods=["spa_faithful", "spa_ranked", "random", "featprop", "graphpart"],
                   budgets=[40], seeds=2, epochs=60, speed_method="graphpart", big_edges=1_000_000,
                   curve=[100_000, 300_000, 1_000_000]),
        full=dict(datasets=["cora", "citeseer", "minesweeper", "tolokers"], methods=list(METHODS),
                  budgets=[10, 20, 40, 80, 160], seeds=10, epochs=300, speed_method="graphpart",
                  big_edges=1_000_000, curve=[100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]),
    )


def _scan_pagerank_time(num_edges: int, seed: int) -> tuple[float, int, int]:
    r = scan_pagerank_time(num_edges, seed)
    return r["total_s"], r["edges"], r["clusters"]


def run(ctx) -> None:
    torch.set_num_threads(1)
    plan = _plan(ctx)
    train = TrainConfig(epochs=plan["epochs"])
    won, cells = 0, 0
    for name in plan["datasets"]:
        data = sbm_graph(200, 4, 12, 0.9, seed=ctx.seed) if name == "sbm" else load_dataset(name)
        sctx = SelectionContext(data, train=train)
        t0 = time.perf_counter()
        rows = run_grid(data, plan["methods"], plan["budgets"], plan["seeds"], train, seed=ctx.seed, ctx=sctx)
        wall = time.perf_counter() - t0
        summary = summarize(rows)
        for s in summary:
            ctx.record(NAME, f"{name}/{s['method']}/b{s['budget']}", "macro_f1", s["macro_f1_mean"],
                       higher_is_better=True, std=s["macro_f1_std"], n=s["n"], epochs=plan["epochs"])
            ctx.record(NAME, f"{name}/{s['method']}/b{s['budget']}", "accuracy", s["accuracy_mean"],
                       higher_is_better=True, std=s["accuracy_std"], n=s["n"], epochs=plan["epochs"])
        for b in plan["budgets"]:
            cell = [s for s in summary if s["budget"] == b]
            spa = max((s for s in cell if s["method"].startswith("spa")), key=lambda s: s["macro_f1_mean"])
            base = max((s for s in cell if not s["method"].startswith("spa")), key=lambda s: s["macro_f1_mean"])
            cells += 1
            won += spa["macro_f1_mean"] >= base["macro_f1_mean"]
            ctx.record(NAME, f"{name}/b{b}", "spa_vs_best_baseline_macro_f1", spa["macro_f1_mean"],
                       baseline=base["macro_f1_mean"], target=">= 1.0", wall_s=wall,
                       spa_method=spa["method"], best_baseline=base["method"])
            if plan["seeds"] < 2:
                continue
            gap = (base["macro_f1_mean"] - spa["macro_f1_mean"]) / max(spa["macro_f1_std"], base["macro_f1_std"], 1e-9)
            ctx.record(NAME, f"{name}/b{b}", "spa_gap_in_std", gap, target="<= 2", higher_is_better=False)
        # query time: SPA against GraphPart, both from scratch on this graph
        b = plan["budgets"][-1]
        q = {}
        for m in ("spa_faithful", plan["speed_method"]):
            fresh = SelectionContext(data, train=train)
            _, q[m] = fresh.timed(select, m, fresh, b, ctx.seed)
        ctx.record(NAME, f"{name}/b{b}", "query_time_spa", q["spa_faithful"], "s", baseline=q[plan["speed_method"]],
                   target="<= 0.1", higher_is_better=False, compared_to=plan["speed_method"])
    ctx.record(NAME, "all", "cells_won_fraction", won / max(cells, 1), target=">= 0.5", cells=cells)

    if plan["big_edges"]:
        sec, m, k = _scan_pagerank_time(plan["big_edges"], ctx.seed)
        ctx.record(NAME, f"sbm_{m}_edges", "scan_pagerank_time", sec, "s", target="<= 10", higher_is_better=False,
                   edges=m, clusters=k)
    xs, ys = [], []
    for e in ctx.progress(plan["curve"], desc="scan+pagerank scaling"):
        sec, m, _ = _scan_pagerank_time(e, ctx.seed)
        xs.append(m)
        ys.append(sec)
        ctx.record(NAME, "scaling", "scan_pagerank_time", sec, "s", higher_is_better=False, edges=m)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(xs, ys, "o-")
    ax.axhline(10, ls="--", c="r", lw=0.8, label="10 s target at 1M edges")
    ax.set_xlabel("undirected edges (SBM, avg degree 20)")
    ax.set_ylabel("SCAN + PageRank seconds")
    ax.set_title(f"spa_graph scaling ({ctx.device}, 1 thread)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, ctx.plot_path(NAME, "scan_pagerank_scaling"), dpi=100)
