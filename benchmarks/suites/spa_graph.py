"""apps/spa_graph: SPA (official rule: SCAN + PageRank) against the paper's baselines, query time, peers, scaling.

Quality (``ctx.record_seeds``, the paper's protocol: dropout 0, all-node evaluation, 300 epochs): per
(model, dataset, budget) and method the macro-F1, GraphPart's distance-grouped macro-F1 and accuracy over
seeds; and SPA (``spa_official``) against the best baseline of the cell, paired by seed, target
``>= 1.0`` on the macro-F1 ratio (met only when the interval of the paired ratio lies above 1). The grid's
per-seed rows are also written to ``<out>/spa_graph_grid.jsonl`` and rendered by ``apps.spa_graph.report``
into ``<out>/spa_graph_TABLES.md`` -- the tables the app README shows.
Query time: SPA's per-seed query time against GraphPart's on the same seeds (paired ratio, target <= 0.1).
Peers (``ctx.compare_timing``, no target): our SCAN + PageRank against cdlib 0.4.1's ``algorithms.scan``
+ ``networkx.pagerank`` on the same graph (skipped with a note when cdlib, the optional ``peers`` extra,
is not installed). Scaling: SCAN + PageRank seconds against edges on SBM graphs (1M edges: <= 10 s).
Each (model, dataset, budget) cell of the grid runs in a worker process (one thread each, as many as CPU
cores); a finished cell is kept in ``<out>/spa_graph_cells/`` and reused when the same plan runs again.

Every cell is the app's own configuration (``apps.spa_graph.recipe.default_settings`` with the cell's overrides:
data, model, budget, seeds, epochs, methods, fidelity), so SPA's parameters and every other key of
configs/train.yaml reach the grid exactly as on the command line.

smoke: a 200-node SBM graph, SPA vs Random, 20 epochs, 1 seed. quick: CiteSeer + Cora at b=40, SPA (official,
ranked) vs Random and FeatProp (corrected baselines: one k-means run), 2 seeds, 60 epochs. standard: CiteSeer
(b = 20, 40, 80) + Cora (b = 20, 40), GCN, SPA and the paper's baselines + AGE as GraphPart's code (official) and as the
methods mean (corrected), 10 seeds, 300 epochs. full: the paper's grid (CiteSeer, Cora, Minesweeper, Tolokers; GCN
and GraphSAGE; the paper's budgets; both fidelities; 10 seeds) -- many hours on a CPU.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from apps.spa_graph.data import load_dataset
from apps.spa_graph.recipe import Recipe, default_settings, row_variant
from apps.spa_graph.selectors import BASELINES
from apps.spa_graph.speed import scan_pagerank_time
from core.plotting import save_figure
from core.training.results import ResultsWriter

NAME = "spa_graph"
DESCRIPTION = ("SPA graph active learning (official rule): macro-F1 vs the best baseline over seeds, query time vs "
               "GraphPart, SCAN+PageRank vs cdlib+networkx, scaling")
PEER = "cdlib 0.4.1 algorithms.scan + networkx.pagerank"
_OFFICIAL = ["methods=paper", "fidelity=official"]               # SPA + the paper's baselines as GraphPart's code
_CORRECTED = ["methods=baselines", "fidelity=corrected"]         # the baselines as the methods mean


def _plan(ctx):
    """Each grid entry is (model, data, budgets, overrides of the app's config); every cell runs the app's own
    settings (``default_settings``), so the benchmark honours the SPA parameters and everything else in
    configs/train.yaml."""
    return ctx.sizes(
        smoke=dict(grid=[("gcn", "sbm", [8], ["data.num_nodes=200", "methods=[spa_official,random]",
                                              "fidelity=corrected"])], seeds=1, epochs=20,
                   peers=[], big_edges=None, curve=[3_000, 10_000, 30_000]),
        quick=dict(grid=[("gcn", d, [40], ["methods=[spa_official,spa_ranked,random,featprop]", "fidelity=corrected"])
                         for d in ("citeseer", "cora")], seeds=2, epochs=60,
                   peers=["citeseer"], big_edges=1_000_000, curve=[100_000, 300_000, 1_000_000]),
        standard=dict(grid=[("gcn", d, b, ov) for d, b in (("citeseer", [20, 40, 80]), ("cora", [20, 40]))
                            for ov in (_OFFICIAL, _CORRECTED)],
                      seeds=10, epochs=300, peers=["citeseer", "cora"], big_edges=1_000_000,
                      curve=[100_000, 300_000, 1_000_000, 3_000_000]),
        full=dict(grid=[(m, d, None, ov) for m in ("gcn", "sage") for d in ("citeseer", "cora", "minesweeper", "tolokers")
                        for ov in (_OFFICIAL, _CORRECTED)],
                  seeds=10, epochs=300, peers=["citeseer", "cora", "minesweeper", "tolokers"],
                  big_edges=1_000_000, curve=[100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]),
    )


def cell_overrides(model: str, name: str, budget: int, extra: list, seeds: int, epochs: int, seed: int) -> list[str]:
    """The app config overrides of one (model, dataset, budget) cell of the plan."""
    return [f"data={name}", f"model={model}", f"budget={int(budget)}", f"seeds={int(seeds)}", f"epochs={int(epochs)}",
            f"seed={int(seed)}", *extra]


def _budgets(name: str, budgets) -> list[int]:
    return list(budgets) if budgets is not None else list(default_settings(f"data={name}").data.paper_budgets)


def _per_seed(rows, method, budget, metric, fidelity=""):
    return {r["seed"]: r[metric] for r in rows if r["method"] == method and r["budget"] == budget
            and r.get("fidelity", "") == fidelity}


def _run_cell(overrides: list) -> dict:
    """One cell of the grid from the app's config with ``overrides`` -> {"rows", "wall_s"} (a worker's job)."""
    torch.set_num_threads(1)
    recipe = Recipe(default_settings(*overrides))
    t0 = time.perf_counter()
    rows, _ = recipe.grid()
    return {"rows": rows, "wall_s": time.perf_counter() - t0}


def _cells(ctx, plan, workers: int | None = None) -> dict:
    """Every cell of ``plan["grid"]`` -> its result, cells in parallel worker processes (one thread each, at most
    ``workers``, default one per CPU core) when there is more than one. A finished cell is kept in
    ``<out>/spa_graph_cells/`` with its overrides and reused when the suite runs again with the same plan, so an
    interrupted ``standard`` run continues where it stopped."""
    import json
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from core.training.atomic import atomic_write_json

    cell_dir = Path(ctx.runs_dir) / "spa_graph_cells"
    cell_dir.mkdir(parents=True, exist_ok=True)
    jobs, done = {}, {}
    for model, name, budgets, extra in plan["grid"]:
        fid = next((o.split("=", 1)[1] for o in extra if o.startswith("fidelity=")), "")
        for b in _budgets(name, budgets):
            key = (model, name, int(b), fid)
            args = cell_overrides(model, name, b, extra, plan["seeds"], plan["epochs"], ctx.seed)
            path = cell_dir / f"{model}_{name}_b{int(b)}{'_' + fid if fid else ''}.json"
            if path.is_file():
                try:
                    saved = json.loads(path.read_text(encoding="utf-8"))
                except ValueError:
                    saved = None
                if saved and saved.get("args") == list(args):
                    done[key] = saved
                    continue
            jobs[key] = (args, path)

    def keep(key, res):
        args, path = jobs[key]
        atomic_write_json(path, {"args": list(args), **res}, indent=None)
        done[key] = json.loads(path.read_text(encoding="utf-8"))      # the same whether just run or reused

    workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    bar = ctx.progress(total=len(jobs), desc="grid cells") if jobs else None
    if workers == 1:
        for key, (args, _) in jobs.items():
            keep(key, _run_cell(args))
            bar and bar.update(1)
    elif jobs:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futs = {pool.submit(_run_cell, args): key for key, (args, _) in jobs.items()}
            for fut in as_completed(futs):
                keep(futs[fut], fut.result())
                bar and bar.update(1)
    if bar is not None:
        bar.close()
    return done


def _quality(ctx, plan, grid_writer) -> list[dict]:
    """Per-seed rows into the grid file, a figure over seeds per (cell, method), SPA (official rule) against the best
    baseline of each fidelity paired by seed, SPA's query time against GraphPart's."""
    points = []
    cells = _cells(ctx, plan)
    by_ds: dict = {}
    for (model, name, b, fid), c in cells.items():
        by_ds.setdefault((model, name), []).append((b, fid, c))
    for (model, name), got in by_ds.items():
        rows = [r for _, _, c in got for r in c["rows"]]
        wall = sum(c["wall_s"] for _, _, c in got)
        recs = []
        for r in rows:                                    # the recipe's row format, for apps.spa_graph.report
            var = row_variant(model, name, r["method"], r["fidelity"], r["budget"])
            common = dict(dataset=name, method=r["method"], fidelity=r["fidelity"], budget=r["budget"], model=model,
                          eval_on="all", epochs=plan["epochs"], dropout=0.0)
            for metric in ("accuracy", "macro_f1", "grouped_macro_f1"):
                recs.append(dict(app=NAME, variant=var, metric=metric, value=r[metric], suite=ctx.suite, seed=r["seed"],
                                 **common))
            recs.append(dict(app=NAME, variant=var, metric="query_time", value=r["query_s"], unit="s",
                             suite=ctx.suite, seed=r["seed"], **common))
        grid_writer.write_records(recs)
        budgets = sorted({b for b, _, _ in got})
        kinds = sorted({(r["method"], r["fidelity"]) for r in rows})
        for b in budgets:
            means = {}
            for m, fid in kinds:
                var = row_variant(model, name, m, fid, b)
                for metric in ("grouped_macro_f1", "macro_f1", "accuracy"):
                    vals = _per_seed(rows, m, b, metric, fid)
                    if not vals:
                        continue
                    rec = ctx.record_seeds(var, metric, vals, higher_is_better=True, model=model, dataset=name,
                                           method=m, fidelity=fid, budget=b, epochs=plan["epochs"])
                    if metric == "macro_f1":
                        means[(m, fid)] = rec["value"]
                qt = _per_seed(rows, m, b, "query_s", fid)
                if qt:
                    ctx.record_seeds(var, "query_time", qt, unit="s", higher_is_better=False, model=model,
                                     dataset=name, method=m, fidelity=fid, budget=b)
                if b == budgets[-1] and qt:
                    f1 = np.array(list(_per_seed(rows, m, b, "macro_f1", fid).values()))
                    points.append({"method": f"{name}/{m}{'@' + fid if fid else ''}",
                                   "x": float(np.mean(list(qt.values()))) + 1e-4, "y": float(f1.mean()),
                                   "y_err": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0, "n_seeds": len(f1)})
            spa = _per_seed(rows, "spa_official", b, "macro_f1")
            for fid in sorted({f for (_, f) in means if f}):
                base = [(m, f) for (m, f) in means if f == fid and m in BASELINES]
                if spa and base:
                    best = max(base, key=lambda k: means[k])
                    ctx.record_seeds(f"{model}/{name}/b{b}", f"spa_official_vs_best_{fid}_baseline_macro_f1", spa,
                                     baseline=_per_seed(rows, best[0], b, "macro_f1", fid), target=">= 1.0",
                                     best_baseline=best[0], fidelity=fid, wall_s=wall)
                gp = _per_seed(rows, "graphpart", b, "query_s", fid)
                if spa and gp:
                    ctx.record_seeds(f"{model}/{name}/b{b}", f"query_time_spa_vs_graphpart_{fid}",
                                     _per_seed(rows, "spa_official", b, "query_s"), unit="s", baseline=gp,
                                     target="<= 0.1", fidelity=fid)
    return points


def _peers(ctx, names) -> None:
    try:
        import networkx as nx
        from cdlib import algorithms
    except ImportError:
        ctx.note("cdlib (optional `peers` extra) is not installed: the SCAN+PageRank peer rows were skipped")
        return
    from apps.spa_graph.pagerank import pagerank
    from apps.spa_graph.scan import scan

    for name in names:
        adj = load_dataset(name).adj
        g = nx.from_scipy_sparse_array(adj)
        ctx.compare_timing(f"{name}/scan_pagerank", baseline=lambda: (algorithms.scan(g, 0.5, 3), nx.pagerank(g, 0.95)),
                           candidate=lambda: (scan(adj, 0.5, 3), pagerank(adj, 0.95)), peer=PEER,
                           baseline_name="cdlib SCAN + nx.pagerank", edges=int(adj.nnz // 2))


def run(ctx) -> None:
    torch.set_num_threads(1)
    plan = _plan(ctx)
    grid_path = Path(ctx.out_dir) / "spa_graph_grid.jsonl"
    grid_path.unlink(missing_ok=True)                # rewritten from the cells (reused ones included) every run
    points = _quality(ctx, plan, ResultsWriter(grid_path))
    from apps.spa_graph import report

    data = report.collect([grid_path])
    (Path(ctx.out_dir) / "spa_graph_TABLES.md").write_text(report.render(data), encoding="utf-8")
    if ctx.suite != "smoke":
        report.plot_all(data, Path(ctx.out_dir) / "plots" / NAME)
    if points:
        ctx.headline_plot(points, x_label="query time (s, mean over seeds)", y_label="macro-F1 (all nodes)",
                          title="SPA vs baselines at the largest budget", log_x=True, higher_is_better=True)
    if plan["peers"]:
        _peers(ctx, plan["peers"])
    if plan["big_edges"]:
        r = scan_pagerank_time(plan["big_edges"], ctx.seed)
        ctx.record(NAME, f"sbm_{r['edges']}_edges", "scan_pagerank_time", r["total_s"], "s", target="<= 10",
                   higher_is_better=False, edges=r["edges"], clusters=r["clusters"])
    xs, ys = [], []
    for e in ctx.progress(plan["curve"], desc="scan+pagerank scaling"):
        r = scan_pagerank_time(e, ctx.seed)
        xs.append(r["edges"])
        ys.append(r["total_s"])
        ctx.record(NAME, "scaling", "scan_pagerank_time", r["total_s"], "s", higher_is_better=False, edges=r["edges"])
    from core.plotting import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.loglog(xs, ys, "o-")
    ax.axhline(10, ls="--", c="r", lw=0.8, label="10 s target at 1M edges")
    ax.set_xlabel("undirected edges (SBM, avg degree 20)")
    ax.set_ylabel("SCAN + PageRank seconds")
    ax.set_title(f"spa_graph scaling ({ctx.device}, 1 thread)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, ctx.plot_path(NAME, "scan_pagerank_scaling"), dpi=100)
