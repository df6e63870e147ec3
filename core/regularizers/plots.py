"""Plot the mask-stability history (matplotlib, Agg backend)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from core.plotting import save_figure

__all__ = ["plot_mask_distance"]


def plot_mask_distance(distances: Sequence[float], stable_at: int | None, path, *, tol: float | None = None,
                       title: str = "mask stability") -> Path:
    """Save a PNG of the distance between consecutive hardened masks per update; mark ``stable_at``.

    ``distances[i]`` is the distance between masks ``i`` and ``i + 1`` (so it is plotted at update ``i + 1``).
    """
    from core.plotting import pyplot

    plt = pyplot()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(distances) + 1), list(distances), "o-", ms=3, label="distance to previous mask")
    if tol is not None:
        ax.axhline(tol, color="grey", ls="--", label=f"tol = {tol:g}")
    if stable_at is not None:
        ax.axvline(stable_at, color="green", ls=":", label=f"stable at update {stable_at}")
    ax.set_xlabel("update")
    ax.set_ylabel("normalised Hamming distance")
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=100)
    return path
