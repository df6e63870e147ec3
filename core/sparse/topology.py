"""The exact-count prune-and-grow step and its helpers: mask shapes, seeded draws, top-k with random ties.

Scores come from the criteria (``core.sparse.criteria``); this module only turns two score tensors into a new mask
with the same number of active entries.

Regrowth semantics (a documented choice): new connections are grown only among positions that were
inactive *before* the update, so just-pruned positions are never regrown in the same update. To keep
this exact, a layer drops at most as many connections as it has inactive positions
(``n_drop <= numel - active``); a dense layer therefore never changes.

Ties (a documented choice): entries whose score equals the boundary score of the drop or grow set are
chosen uniformly at random (seeded), not by index order; e.g. with all-zero gradients RigL's regrowth is
spread over the whole layer instead of filling its first rows.
"""
from __future__ import annotations

import torch

__all__ = ["GRANULARITIES", "mask_shape", "kernel_reduce", "device_generator", "random_mask", "topk_random_ties",
           "prune_and_grow"]

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


def device_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (random draws of an update happen where the weights are)."""
    return torch.Generator(device=torch.device(device)).manual_seed(int(seed))


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


def topk_random_ties(values: torch.Tensor, k: int, *, largest: bool, generator: torch.Generator | None) -> torch.Tensor:
    """``(M,) -> (k,)`` indices of the ``k`` largest (or smallest) values; entries tied at the boundary value are
    chosen uniformly at random with ``generator`` (``None``: whatever ``torch.topk`` returns, i.e. index order).

    One ``torch.topk`` plus two counts; the random draw (on ``values``' device) happens only when a tie
    straddles the boundary (e.g. many zero gradients or weights regrown at exactly zero).
    """
    m = values.numel()
    if k >= m:
        return torch.arange(m, device=values.device)
    if k <= 0:
        return torch.zeros(0, dtype=torch.long, device=values.device)
    res = torch.topk(values, k, largest=largest, sorted=False)
    if generator is None:
        return res.indices
    thr = res.values.min() if largest else res.values.max()
    beyond = values > thr if largest else values < thr      # strictly inside the top k
    tied = values == thr
    n_beyond, n_tied = int(beyond.sum()), int(tied.sum())
    if n_beyond + n_tied == k:
        return res.indices
    tied_idx = tied.nonzero().squeeze(1)
    pick = torch.randperm(n_tied, generator=generator, device=values.device)[: k - n_beyond]
    return torch.cat([beyond.nonzero().squeeze(1), tied_idx[pick]])


@torch.no_grad()
def prune_and_grow(mask: torch.Tensor, prune_score: torch.Tensor, grow_score: torch.Tensor | None, n_drop: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Drop the ``n_drop`` active entries with the smallest ``prune_score``, grow ``n_drop`` inactive
    entries (inactive before this update) with the largest ``grow_score``. Shapes: all ``mask.shape``.

    ``grow_score=None`` grows uniformly at random (SET). ``generator`` (a generator on ``mask``'s device)
    breaks ties in both scores uniformly at random and draws the random growth; without it ties go by
    index order (and ``grow_score=None`` is an error).

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
    drop = on[topk_random_ties(prune_score.reshape(-1)[on].float(), n_drop, largest=False, generator=generator)]
    if grow_score is None:
        if generator is None:
            raise ValueError("random growth (grow_score=None) needs a generator")
        keys = torch.rand(off.numel(), generator=generator, device=off.device)
        grow = off[torch.topk(keys, n_drop, sorted=False).indices]
    else:
        grow = off[topk_random_ties(grow_score.reshape(-1)[off].float(), n_drop, largest=True, generator=generator)]
    new = flat.clone()
    new[drop] = False
    new[grow] = True
    return new.view(mask.shape)
