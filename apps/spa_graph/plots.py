"""Plots: accuracy / macro-F1 against budget per method, and SCAN communities with selected nodes."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_vs_budget", "draw_selection"]


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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
