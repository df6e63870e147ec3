"""Prune and grow scores, and the exact-count prune-and-grow step.

Scores are computed on the *mask* shape: the weight shape for granularity "weight", ``(out, in)``
for "kernel" (L1 over each kernel's spatial positions; for a Linear the kernel is the weight itself).

Regrowth semantics (a documented choice): new connections are grown only among positions that were
inactive *before* the update, so just-pruned positions are never regrown in the same update. To keep
this exact, a layer drops at most as many connections as it has inactive positions
(``n_drop <= numel - active``); a dense layer therefore never changes.
"""
from __future__ import annotations

import torch

__all__ = ["PRUNE_CRITERIA", "GROW_CRITERIA", "GRANULARITIES", "mask_shape", "kernel_reduce",
           "magnitude_score", "gradient_score", "random_score", "prune_and_grow", "random_mask"]

PRUNE_CRITERIA = ("magnitude",)
GROW_CRITERIA = ("random", "gradient", "none")
GRANULARITIES = ("weight", "kernel")


def mask_shape(weight_shape: torch.Size | tuple, granularity: str) -> tuple:
    """Weight shape -> mask shape: itself ("weight") or ``(out, in)`` ("kernel")."""
    return tuple(weight_shape) if granularity == "weight" else tuple(weight_shape[:2])


def kernel_reduce(x: torch.Tensor, granularity: str) -> torch.Tensor:
    """``(out, in, *k) -> (out, in)``: L1 over each kernel for "kernel"; ``|x|`` for "weight"."""
    a = x.detach().abs()
    if granularity == "weight" or a.dim() <= 2:
        return a
    return a.flatten(2).sum(-1)


def magnitude_score(weight: torch.Tensor, granularity: str) -> torch.Tensor:
    """Weight (or kernel L1) magnitude, mask-shaped."""
    return kernel_reduce(weight, granularity)


def gradient_score(weight: torch.Tensor, granularity: str) -> torch.Tensor:
    """RigL: dense gradient magnitude (kernel L1 of the gradient), mask-shaped."""
    if weight.grad is None:
        raise RuntimeError(
            "grow='gradient' needs the weights' gradients: call sparsity.step() after optimizer.step() "
            "and before optimizer.zero_grad()"
        )
    return kernel_reduce(weight.grad, granularity)


def random_score(shape: tuple, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """SET: uniform random scores from ``generator`` (CPU, so every device draws the same numbers)."""
    return torch.rand(shape, generator=generator).to(device)


def random_mask(shape: tuple, count: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool mask of ``shape`` with exactly ``count`` True entries at random positions."""
    n = 1
    for s in shape:
        n *= int(s)
    flat = torch.zeros(n, dtype=torch.bool)
    if count > 0:
        idx = torch.randperm(n, generator=generator)[:count]
        flat[idx] = True
    return flat.view(shape).to(device)


@torch.no_grad()
def prune_and_grow(mask: torch.Tensor, prune_score: torch.Tensor, grow_score: torch.Tensor, n_drop: int) -> torch.Tensor:
    """Drop the ``n_drop`` active entries with the smallest ``prune_score``, grow ``n_drop`` inactive
    entries (inactive before this update) with the largest ``grow_score``. Shapes: all ``mask.shape``.

    Returns a new bool mask with exactly ``mask.sum()`` active entries. ``n_drop`` is clipped to
    ``min(active, inactive)``.
    """
    flat = mask.reshape(-1)
    on = flat.nonzero().squeeze(1)     # (A,) active positions
    off = (~flat).nonzero().squeeze(1)  # (N - A,) inactive positions (before this update)
    n_drop = max(0, min(int(n_drop), on.numel(), off.numel()))
    if n_drop == 0:
        return mask.clone()
    # small-k top-k on the active / inactive subsets (much cheaper than a large-k top-k over everything)
    drop = on[torch.topk(prune_score.reshape(-1)[on].float(), n_drop, largest=False, sorted=False).indices]
    grow = off[torch.topk(grow_score.reshape(-1)[off].float(), n_drop, largest=True, sorted=False).indices]
    new = flat.clone()
    new[drop] = False
    new[grow] = True
    return new.view(mask.shape)
