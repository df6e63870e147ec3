"""Plots of apps/msrs: val WER vs wall-clock, mask distance/density over steps, per-layer gradient norms."""
from __future__ import annotations

from pathlib import Path
from core.plotting import save_figure

__all__ = ["plot_curve", "plot_mask_history", "plot_grad_norms", "plot_grad_norms_grid"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curve(curves: dict[str, list[dict]], path, title: str = "validation WER", key: str = "wer") -> Path:
    """``{method: [{time, wer, cer}, ...]}`` -> val ``key`` against training wall-clock."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in curves.items():
        if pts:
            ax.plot([p["time"] for p in pts], [p[key] for p in pts], marker="o", ms=3, label=name)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(f"val {key.upper()}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_mask_history(history: list[dict], stable_step, switch_step, path) -> Path:
    """Per check: distance to the previous hard mask, distance to the final (switch-time) mask, and density
    over steps, with the stabilization and switch steps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [h for h in history if h["distance"] is not None]
    ax.plot([h["step"] for h in pts], [h["distance"] for h in pts], marker="o", ms=3, label="to previous check")
    fin = [h for h in history if h.get("to_final") is not None]
    if fin:
        ax.plot([h["step"] for h in fin], [h["to_final"] for h in fin], marker="s", ms=3, label="to final mask")
    ax.set_xlabel("step")
    ax.set_ylabel("normalised Hamming distance")
    ax2 = ax.twinx()
    ax2.plot([h["step"] for h in history], [h["density"] for h in history], color="gray", ls="--", label="density")
    ax2.set_ylabel("mask density")
    if stable_step is not None:
        ax.axvline(stable_step, color="green", ls=":", label=f"stable @ {stable_step}")
    if switch_step is not None:
        ax.axvline(switch_step, color="red", ls="-.", label=f"switch @ {switch_step}")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_grad_norms(rows: list[dict], path, title: str = "per-layer gradient norm") -> Path:
    """``[{step, group: norm, ...}]`` -> one line per layer group (log scale)."""
    plt = _plt()
    groups = sorted({k for r in rows for k in r if k != "step"})
    fig, ax = plt.subplots(figsize=(7, 4))
    for g in groups:
        pts = [(r["step"], r[g]) for r in rows if g in r]
        ax.plot([p[0] for p in pts], [max(p[1], 1e-12) for p in pts], label=g, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    save_figure(fig, path, dpi=100)
    return Path(path)


def plot_grad_norms_grid(runs: dict[str, list[dict]], path, title: str = "") -> Path:
    """One panel per method (shared log y axis): per-layer-group gradient norms over the first steps."""
    plt = _plt()
    names = [n for n, rows in runs.items() if rows]
    cols = min(4, max(1, len(names)))
    rows_n = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3 * rows_n), sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        rows = runs[name]
        for g in sorted({k for r in rows for k in r if k != "step"}):
            pts = [(r["step"], r[g]) for r in rows if g in r]
            ax.plot([p[0] for p in pts], [max(p[1], 1e-12) for p in pts], label=g, lw=1)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=5, ncol=2)
    fig.suptitle(title)
    save_figure(fig, path, dpi=90)
    return Path(path)
