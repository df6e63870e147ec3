"""An eps / mu sweep of SPA on one graph: SCAN's structure and SPA's selection quality over a grid of (eps, mu).

The SPA paper fixes SCAN at eps = 0.5, mu = 3 and never tunes them. For every (eps, mu) of the grid this
records what SCAN finds (clusters, cores, borders, hubs, outliers; answered by ``scan_index.ScanIndex`` from
similarities computed once) and how good SPA's picks are at one budget: macro-F1 (and accuracy) of the paper's
GNN trained on them, over a few seeds (``experiment.run_grid``, the project's protocol). One
``SelectionContext`` serves the whole grid, so the similarity and the global PageRank are computed once; the
official rule's cdlib-ordered communities are rebuilt per (eps, mu, seed) from the cached similarity.

    sparselab-spa sweep --dataset citeseer --budget 40          (= python -m apps.spa_graph.sweep ...)
    sparselab-spa sweep --dataset cora --budget 20 --eps 0.3 0.5 0.7 --mu 2 3 5 --seeds 2 --epochs 100

Writes ``<out>/sweep.jsonl`` (one row per (eps, mu) with the counts, the per-seed scores and their mean/std),
``<out>/sweep.png`` (clusters, cores, hubs + outliers and macro-F1 against eps, one line per mu) and
``<out>/sweep.md`` (the same as a table), and prints where they are.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from apps.spa_graph.scan import ROLE_NAMES, check_scan_params
from apps.spa_graph.scan_index import ScanIndex

__all__ = ["eps_mu_sweep", "structure_rows", "plot_sweep", "format_sweep", "main", "SWEEP_METHODS",
           "DEFAULT_EPS", "DEFAULT_MU"]

SWEEP_METHODS = ("spa_official", "spa_ranked", "spa_random_order")
DEFAULT_EPS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEFAULT_MU = (2, 3, 4, 6)
PAPER = (0.5, 3)


def _grid(eps_values, mu_values) -> list[tuple[float, int]]:
    eps_values = sorted({check_scan_params(e, 1)[0] for e in eps_values})
    mu_values = sorted({check_scan_params(0.5, m)[1] for m in mu_values})
    if not eps_values or not mu_values:
        raise ValueError("eps_values and mu_values must each hold at least one value")
    return [(e, m) for m in mu_values for e in eps_values]


def structure_rows(adj, eps_values, mu_values, include_self: bool = False,
                   index: ScanIndex | None = None) -> tuple[list[dict], ScanIndex, list]:
    """SCAN's structure at every (eps, mu) from one index -> (rows, index, results).

    rows: {eps, mu, clusters, core, border, hub, outlier, members, largest_cluster, query_s}; results: the
    ``ScanResult`` of each row (same order)."""
    grid = _grid(eps_values, mu_values)
    t0 = time.perf_counter()
    index = ScanIndex.build(adj) if index is None else index
    build_s = time.perf_counter() - t0
    rows, results = [], []
    for eps, mu in grid:
        t0 = time.perf_counter()
        res = index.query(eps, mu, include_self)
        q = time.perf_counter() - t0
        counts = res.role_counts()
        sizes = np.bincount(res.labels[res.labels >= 0], minlength=max(res.num_clusters, 1))
        rows.append({"eps": eps, "mu": mu, "include_self": bool(include_self), "clusters": res.num_clusters,
                     **{name: counts[name] for name in ROLE_NAMES}, "members": int((res.labels >= 0).sum()),
                     "largest_cluster": int(sizes.max()) if res.num_clusters else 0, "query_s": q,
                     "index_build_s": build_s})
        results.append(res)
    return rows, index, results


def eps_mu_sweep(data, eps_values=DEFAULT_EPS, mu_values=DEFAULT_MU, *, budget: int, seeds: int = 3, seed: int = 0,
                 method: str = "spa_official", train=None, eval_on: str = "all", quality: bool = True,
                 on_row=None) -> list[dict]:
    """``GraphData`` + grid -> one row per (eps, mu): structure (``structure_rows``) and, with ``quality``, SPA's
    macro-F1 / accuracy at ``budget`` over ``seeds`` seeds (mean, std, per seed) and its mean query time.

    ``method``: one of ``SWEEP_METHODS`` (the official rule follows cdlib's convention, so include_self is
    false). ``train``: a ``protocol.TrainConfig`` (default: the paper's protocol)."""
    from apps.spa_graph.experiment import run_grid
    from apps.spa_graph.protocol import TrainConfig
    from apps.spa_graph.selectors import SelectionContext

    if method not in SWEEP_METHODS:
        raise ValueError(f"method={method!r}; choose one of {list(SWEEP_METHODS)}")
    if isinstance(budget, bool) or int(budget) != budget or int(budget) < 1:
        raise ValueError(f"budget={budget} must be an integer >= 1")
    if isinstance(seeds, bool) or int(seeds) != seeds or int(seeds) < 1:
        raise ValueError(f"seeds={seeds} must be an integer >= 1")
    train = TrainConfig() if train is None else train
    rows, index, results = structure_rows(data.adj, eps_values, mu_values)
    ctx = SelectionContext(data, train=train) if quality else None
    out = []
    for row, res in zip(rows, results):
        row = {"dataset": data.name, "method": method, "budget": int(budget), **row}
        if quality:
            eps, mu = row["eps"], row["mu"]
            # the SCAN result of this cell, handed to the selectors' cache (only spa_ranked / random_order read it)
            ctx.cached(("scan", eps, mu, False), lambda res=res: res)
            per_seed = run_grid(data, [method], [int(budget)], int(seeds), train, seed=int(seed), eval_on=eval_on,
                                spa_kw={"eps": eps, "mu": mu}, ctx=ctx)
            for metric in ("macro_f1", "accuracy"):
                v = np.array([r[metric] for r in per_seed], dtype=np.float64)
                row[f"{metric}_mean"] = float(v.mean())
                row[f"{metric}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
                row[metric] = {int(r["seed"]): float(r[metric]) for r in per_seed}
            row["select_s_mean"] = float(np.mean([r["query_s"] for r in per_seed]))
            row["seeds"] = [int(r["seed"]) for r in per_seed]
        out.append(row)
        if on_row is not None:
            on_row(row)
    return out


def plot_sweep(rows: list[dict], path, title: str = "") -> Path:
    """Rows of ``eps_mu_sweep`` -> PNG: clusters, cores, hubs + outliers and macro-F1 against eps, a line per mu."""
    from core.plotting import pyplot, save_figure

    plt = pyplot()

    panels = [("clusters", "SCAN clusters", True), ("core", "cores", True), ("non_members", "hubs + outliers", False)]
    quality = any("macro_f1_mean" in r for r in rows)
    if quality:
        panels.append(("macro_f1_mean", "SPA macro-F1 (GCN)", False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    mus = sorted({r["mu"] for r in rows})
    n = max(1, rows[0]["core"] + rows[0]["border"] + rows[0]["hub"] + rows[0]["outlier"]) if rows else 1
    for ax, (key, label, log) in zip(axes, panels):
        for mu in mus:
            rs = sorted((r for r in rows if r["mu"] == mu), key=lambda r: r["eps"])
            x = [r["eps"] for r in rs]
            if key == "non_members":
                y = np.array([(r["hub"] + r["outlier"]) / n for r in rs])
            else:
                y = np.array([r[key] for r in rs], dtype=float)
            if key == "macro_f1_mean":
                sd = np.array([r["macro_f1_std"] for r in rs])
                ax.errorbar(x, 100 * y, yerr=100 * sd, marker="o", capsize=2, label=f"mu={mu}")
            else:
                ax.plot(x, np.maximum(y, 0.5) if log else y, marker="o", label=f"mu={mu}")
        if key in ("clusters", "core"):
            ax.set_yscale("log")
        ax.axvline(PAPER[0], color="grey", ls=":", lw=1)
        ax.set_xlabel("eps")
        ax.set_ylabel(label + (" (%)" if key == "macro_f1_mean" else " (fraction of nodes)" if key == "non_members"
                               else ""))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=100)


def format_sweep(rows: list[dict]) -> str:
    """Rows -> a markdown table (the paper's setting eps = 0.5, mu = 3 marked)."""
    quality = any("macro_f1_mean" in r for r in rows)
    head = "| eps | mu | clusters | cores | borders | hubs | outliers | largest |"
    sep = "|---:|---:|---:|---:|---:|---:|---:|---:|"
    if quality:
        head += " macro-F1 (%) | accuracy (%) |"
        sep += "---:|---:|"
    lines = [head, sep]
    for r in sorted(rows, key=lambda r: (r["mu"], r["eps"])):
        mark = " (paper)" if (r["eps"], r["mu"]) == PAPER else ""
        line = (f"| {r['eps']:g}{mark} | {r['mu']} | {r['clusters']} | {r['core']} | {r['border']} | {r['hub']} | "
                f"{r['outlier']} | {r['largest_cluster']} |")
        if quality:
            line += (f" {100 * r['macro_f1_mean']:.1f} ± {100 * r['macro_f1_std']:.1f} | "
                     f"{100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_std']:.1f} |")
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(prog="sparselab-spa sweep",
                                description="SPA's SCAN eps / mu sweep: structure and selection quality per (eps, mu)")
    p.add_argument("--dataset", default="citeseer", help="a dataset name of apps.spa_graph.data (default citeseer)")
    p.add_argument("--data-root", default=None, help="root folder of the dataset files (default: the packaged copy)")
    p.add_argument("--budget", type=int, default=40)
    p.add_argument("--eps", type=float, nargs="+", default=list(DEFAULT_EPS))
    p.add_argument("--mu", type=int, nargs="+", default=list(DEFAULT_MU))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=SWEEP_METHODS, default="spa_official")
    p.add_argument("--model", choices=("gcn", "sage"), default="gcn")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--structure-only", action="store_true", help="counts only: no training (seconds)")
    p.add_argument("--out", default=None, help="output folder (default outputs/spa_graph/sweep/<dataset>_b<budget>)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = p.parse_args(argv)
    import torch

    from apps.spa_graph.data import load_dataset
    from apps.spa_graph.protocol import TrainConfig

    torch.set_num_threads(max(1, a.threads))
    out = Path(a.out or f"outputs/spa_graph/sweep/{a.dataset}_b{a.budget}")
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(a.dataset, a.data_root)
    train = TrainConfig(model=a.model, epochs=a.epochs)
    t0 = time.perf_counter()
    path = out / "sweep.jsonl"
    path.unlink(missing_ok=True)

    def keep(row):
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        q = (f" macro-F1 {100 * row['macro_f1_mean']:.1f} ± {100 * row['macro_f1_std']:.1f}"
             if "macro_f1_mean" in row else "")
        print(f"eps={row['eps']:g} mu={row['mu']}: {row['clusters']} clusters, {row['core']} cores, "
              f"{row['hub']} hubs, {row['outlier']} outliers{q}", flush=True)

    rows = eps_mu_sweep(data, a.eps, a.mu, budget=a.budget, seeds=a.seeds, seed=a.seed, method=a.method, train=train,
                        quality=not a.structure_only, on_row=keep)
    title = (f"{data.name}: SCAN eps/mu sweep" + ("" if a.structure_only else
             f", {a.method} b={a.budget}, {a.model.upper()} {a.epochs} epochs, {a.seeds} seeds"))
    png = plot_sweep(rows, out / "sweep.png", title)
    (out / "sweep.md").write_text(f"{title}\n\n{format_sweep(rows)}\n", encoding="utf-8")
    print(format_sweep(rows))
    print(f"swept {len(rows)} (eps, mu) cells on {data.name} ({data.num_nodes} nodes, {data.num_edges} edges) in "
          f"{time.perf_counter() - t0:.1f} s; index built once in {rows[0]['index_build_s']:.3f} s, queries "
          f"{1e3 * np.mean([r['query_s'] for r in rows]):.2f} ms each")
    print(f"results: {path}\nplot:    {png}\ntable:   {out / 'sweep.md'}")
    return rows


if __name__ == "__main__":
    main()
