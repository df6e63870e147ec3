"""Plot which items a DataPruner kept over the epochs (matplotlib, Agg backend)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from core.plotting import save_figure

__all__ = ["plot_selection_history"]

_MAX_MAP_ITEMS = 4096


def _as_masks(selections: Sequence, num_items: int | None) -> torch.Tensor:
    """list of (K_e,) id tensors or (N,) bool masks -> (E, N) bool."""
    rows = [torch.as_tensor(s) for s in selections]
    if num_items is None:
        num_items = max((int(r.max()) + 1 if r.dtype != torch.bool and r.numel() else r.numel()) for r in rows)
    out = torch.zeros(len(rows), num_items, dtype=torch.bool)
    for e, r in enumerate(rows):
        if r.dtype == torch.bool:
            out[e] = r
        else:
            out[e, r.long()] = True
    return out


def plot_selection_history(pruner_or_history, path, *, num_items: int | None = None, title: str = "") -> Path:
    """Save a PNG of the selection history and return its path.

    ``pruner_or_history``: a ``DataPruner`` (plots the kept fraction per selected epoch from its
    ``history``), or a sequence of per-epoch selections (id tensors or bool masks) or an
    ``(epochs, items)`` bool tensor (plots an items x epochs kept map, items subsampled to 4096,
    above the kept fraction per epoch).
    """
    from core.plotting import pyplot

    plt = pyplot()

    from .pruner import DataPruner

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(pruner_or_history, DataPruner):
        hist = sorted(pruner_or_history.history, key=lambda h: h["epoch"])
        if not hist:
            raise ValueError("the pruner has no history yet: call select(epoch) before plotting")
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([h["epoch"] for h in hist], [h["fraction"] for h in hist], "o-")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("epoch")
        ax.set_ylabel("kept fraction")
        ax.set_title(title or f"{pruner_or_history.policy}: kept fraction per epoch")
    else:
        h = pruner_or_history
        masks = h.bool() if isinstance(h, torch.Tensor) and h.dim() == 2 else _as_masks(h, num_items)
        if masks.shape[0] == 0:
            raise ValueError("empty selection history: nothing to plot")
        n = masks.shape[1]
        shown = masks[:, torch.linspace(0, n - 1, min(n, _MAX_MAP_ITEMS)).long()] if n > _MAX_MAP_ITEMS else masks
        fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7, 5), height_ratios=[3, 1], sharex=True)
        ax0.imshow(shown.T.float().numpy(), aspect="auto", interpolation="nearest", cmap="Greys", origin="lower")
        ax0.set_ylabel("item" + (" (subsampled)" if n > _MAX_MAP_ITEMS else ""))
        ax0.set_title(title or "kept items per epoch (black = kept)")
        ax1.bar(range(masks.shape[0]), masks.float().mean(1).numpy())
        ax1.set_ylim(0, 1.05)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("kept fraction")
    save_figure(fig, path, dpi=100)
    return path
