"""Plots: accuracy / macro-F1 against budget per method, and SCAN communities with selected nodes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.plotting import pyplot, save_figure

plt = pyplot()

__all__ = ["plot_vs_budget", "draw_selection", "plot_grid_picks", "main"]


def plot_vs_budget(summary: list[dict], path: str | Path, title: str = "") -> Path:
    """summary rows {method, budget, accuracy_mean, accuracy_std, macro_f1_mean, macro_f1_std} -> PNG."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("accuracy", "macro_f1")):
        for m in sorted({r["method"] for r in summary}):
            rows = sorted((r for r in summary if r["method"] == m), key=lambda r: r["budget"])
            b = [r["budget"] for r in rows]
            mu = np.array([r[f"{metric}_mean"] for r in rows])
            sd = np.array([r[f"{metric}_std"] for r in rows])
            style = "-o" if m.startswith("spa") else "--."
            ax.plot(b, mu, style, label=m, lw=2 if m.startswith("spa") else 1)
            ax.fill_between(b, mu - sd, mu + sd, alpha=0.1)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget (labelled nodes)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(title)
    return save_figure(fig, path, dpi=110)


def draw_selection(adj, labels: np.ndarray, picks: np.ndarray, path: str | Path, title: str = "",
                   seed: int = 0) -> Path:
    """Spring layout, nodes coloured by SCAN cluster (grey: hub/outlier), selected nodes as red stars."""
    import networkx as nx

    g = nx.from_scipy_sparse_array(adj)
    pos = nx.spring_layout(g, seed=seed, iterations=50)
    xy = np.array([pos[i] for i in range(adj.shape[0])])
    fig, ax = plt.subplots(figsize=(7, 7))
    coo = adj.tocoo()
    keep = coo.row < coo.col
    segs = np.stack([xy[coo.row[keep]], xy[coo.col[keep]]], axis=1)
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(segs, colors="0.8", linewidths=0.3, zorder=0))
    member = labels >= 0
    ax.scatter(xy[~member, 0], xy[~member, 1], s=8, c="0.6", label="hub/outlier", zorder=1)
    ax.scatter(xy[member, 0], xy[member, 1], s=12, c=labels[member] % 20, cmap="tab20", zorder=2)
    ax.scatter(xy[picks, 0], xy[picks, 1], s=160, marker="*", c="red", edgecolors="k", label="selected", zorder=3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_axis_off()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_grid_picks(picks: dict, side: int, labels: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Selected nodes of a graph laid out on a ``side`` x ``side`` grid in row-major order (Minesweeper), one panel
    per method ({name: (b,) ids}); nodes of class 1 (mines) in light grey."""
    names = list(picks)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    yy, xx = np.divmod(np.arange(side * side), side)
    pos = labels[: side * side] == 1
    for ax, name in zip(axes[0], names):
        ax.scatter(xx[pos], yy[pos], s=1, c="0.85", marker="s")
        r, c = np.divmod(np.asarray(picks[name]), side)
        ax.scatter(c, r, s=6, c="tab:red")
        ax.set_title(name, fontsize=9)
        ax.set_xlim(-1, side)
        ax.set_ylim(side, -1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110)


def main(argv=None) -> None:
    """``python -m apps.spa_graph.plots grid-picks --data minesweeper --budget 160 --seed 0 --out picks.png
    [--methods spa_official,pagerank,random,featprop] [--fidelity official]``: where each method's picks lie on
    Minesweeper's 100 x 100 grid, and per method the share of picks within 2 cells of the border and the number of
    distinct 10 x 10 blocks they reach (coverage)."""
    import argparse

    from apps.spa_graph.recipe import Recipe, default_settings
    from apps.spa_graph.selectors import SelectionContext, select
    from apps.spa_graph.cdlib_order import cdlib_scan_communities

    p = argparse.ArgumentParser(prog="python -m apps.spa_graph.plots")
    p.add_argument("what", choices=["grid-picks"])
    p.add_argument("--data", default="minesweeper")
    p.add_argument("--budget", type=int, default=160)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="spa_official,spa_ranked,pagerank,random,featprop")
    p.add_argument("--fidelity", default="official")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    s = default_settings(f"data={a.data}", f"budget={a.budget}", f"methods=[{a.methods}]", f"fidelity={a.fidelity}")
    recipe = Recipe(s)
    data = recipe.load()
    side = int(round(np.sqrt(data.num_nodes)))
    if side * side != data.num_nodes:
        raise SystemExit(f"{a.data}: {data.num_nodes} nodes is not a square grid")
    ctx = SelectionContext(data, train=s.train)
    comms = cdlib_scan_communities(data.adj, s.spa.eps, s.spa.mu, a.seed)
    print(f"{a.data}: {len(comms)} SCAN communities (eps={s.spa.eps}, mu={s.spa.mu}), largest {len(comms[0])} nodes")
    picks = {}
    for sel in recipe.selectors:
        ids = select(sel, ctx, a.budget, a.seed)
        r, c = np.divmod(ids, side)
        border = np.minimum(np.minimum(r, side - 1 - r), np.minimum(c, side - 1 - c))
        blocks = len(np.unique((r // 10) * 100 + c // 10))
        name = sel.name + (f"@{sel.fidelity}" if sel.fidelity else "")
        print(f"  {name:<24} picks within 2 cells of the border: {100 * np.mean(border <= 2):.0f} %, "
              f"10x10 blocks reached: {blocks} of {(side // 10) ** 2}")
        picks[name] = ids
    out = plot_grid_picks(picks, side, data.y.numpy(), a.out,
                          f"{a.data}, b = {a.budget}, seed {a.seed}: selected nodes (red), mines (grey)")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
