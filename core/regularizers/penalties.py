"""Sparsity penalties on tensors (differentiable)."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

__all__ = ["soft_count"]


def soft_count(masks: Sequence[Tensor], weights: Sequence[int] | None = None) -> Tensor:
    """``sum_t weights[t] * sum(masks[t])`` -> scalar: the soft number of kept entries (an L1 of masks in [0, 1]).

    A sum, not a mean: the gradient on one entry is ``weights[t]`` whatever the number of entries, so one penalty
    weight means the same per-entry price on a small model and on a wide one (a mean would divide it by N).
    ``weights``: entries each mask value stands for (e.g. a kernel's size), default 1. Differentiable;
    ValueError on no tensors or no entries.
    """
    ms = list(masks)
    if not ms:
        raise ValueError("soft_count needs at least one tensor; got none")
    ws = [1] * len(ms) if weights is None else list(weights)
    if len(ws) != len(ms):
        raise ValueError(f"soft_count: {len(ms)} masks but {len(ws)} weights")
    if sum(m.numel() for m in ms) == 0:
        raise ValueError("soft_count got only empty tensors")
    total = None
    for m, w in zip(ms, ws):
        term = m.sum() * float(w) if w != 1 else m.sum()
        total = term if total is None else total + term
    return total
