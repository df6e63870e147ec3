"""The one matplotlib set-up: ``plt = pyplot()`` inside a plotting function, ``save_figure(fig, path)`` to write it.

Headless Agg backend (no display on training and CI machines); every plot is written to a file.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on training and CI machines
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (the one place that chooses it)."""
    return plt


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 100, **kw) -> Path:
    """Tight-layout ``fig``, write it to ``path`` (folders created) and close it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, **kw)
    plt.close(fig)
    return path
