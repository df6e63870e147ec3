"""Per-layer density bar chart (headless matplotlib)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from core.plotting import save_figure

__all__ = ["plot_density"]


def plot_density(report: Sequence[dict], path: str | Path, title: str = "density per layer") -> Path:
    """Bar chart of ``report`` rows (``DynamicSparsity.report()``: name, density, numel) saved as PNG at ``path``."""
    from core.plotting import pyplot

    plt = pyplot()

    if not report:
        raise ValueError("plot_density needs a non-empty report")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [r["name"] for r in report]
    dens = [float(r["density"]) for r in report]
    total = sum(r["numel"] for r in report)
    glob = sum(r["density"] * r["numel"] for r in report) / total
    longest = max(len(n) for n in names)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(names) + 2), 3.0 + 0.055 * longest))
    ax.bar(range(len(names)), dens, color="tab:blue")
    ax.axhline(glob, color="tab:red", ls="--", lw=1, label=f"global {glob:.3f}")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=100)
    return path
