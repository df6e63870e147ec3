"""DSFF (dynamic sparse feature fusion): kernel-level dynamic sparsity on E2ENet's fusion layers through
``core.sparse``, with the official code's density floor on the level-0 (full-resolution) fusion layers, and the
count of output channels left without any input kernel ("dead")."""
from __future__ import annotations

import torch
from torch import nn

from core.schedules import Cosine
from core.sparse import DynamicSparsity
from core.sparse.density import allocate_densities

from apps.e2enet.models.e2enet import E2ENet, fusion_targets

__all__ = ["build_dsff", "dsff_densities", "level0_targets", "dead_output_channels"]


def level0_targets(names: list[str]) -> list[str]:
    """The fusion layers at full resolution: convs of the level-0 nodes ``nodes.0_j`` and the upsamplings into them."""
    return [n for n in names if n.startswith("nodes.0_") or n.startswith("ups.0_")]


def dsff_densities(model: E2ENet, sparsity: float, *, init: str = "uniform", level0_min_density: float | None = 0.2) -> dict[str, float]:
    """Per-layer densities of the fusion layers at sparsity ``S``: ``init`` ("uniform" | "erk") allocates
    ``1 - S`` over the layers; the level-0 layers keep ``max(level0_min_density, 1 - S)`` (the official code
    never sparsifies them below density 0.2; ``None`` or 0 turns the floor off) and are left out of the budget,
    so the other layers hold exactly ``1 - S``."""
    if not 0.0 < sparsity < 1.0:
        raise ValueError(f"model.sparsity={sparsity} must be in (0, 1) for DSFF")
    if level0_min_density is not None and not 0.0 <= float(level0_min_density) <= 1.0:
        raise ValueError(f"sparse.level0_min_density={level0_min_density} must be in [0, 1] (or null: no floor)")
    mods = dict(model.named_modules())
    names = fusion_targets(model)
    shapes = {n: tuple(mods[n].weight.shape) for n in names}
    fixed = {}
    if level0_min_density:
        d0 = max(float(level0_min_density), 1.0 - sparsity)
        fixed = {n: d0 for n in level0_targets(names)}
    return allocate_densities(shapes, 1.0 - sparsity, init, fixed=fixed)


def build_dsff(model: E2ENet, sparsity: float, *, total_steps: int, update_every: int = 1200, drop_start: float = 0.5,
               drop_end: float = 0.0, init: str = "uniform", level0_min_density: float | None = 0.2,
               seed: int = 0) -> DynamicSparsity | None:
    """None for ``sparsity == 0``; else masks with one bit per (out, in) kernel of every fusion layer at the
    densities of :func:`dsff_densities`; every ``update_every`` steps the lowest-L1 kernels are pruned and as
    many regrown at random (at zero), the fraction following Cosine(drop_start -> drop_end) over ``total_steps``."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"model.sparsity={sparsity} must be in [0, 1) (0 = dense)")
    if sparsity == 0.0:
        return None
    dens = dsff_densities(model, sparsity, init=init, level0_min_density=level0_min_density)
    names = set(dens)
    return DynamicSparsity(model, density=1.0 - sparsity, granularity="kernel", prune="magnitude", grow="random",
                           drop_fraction=Cosine(drop_start, drop_end, max(1, total_steps)), update_every=update_every,
                           end_step=total_steps, targets=lambda n, m: n in names, densities=dens, seed=seed)


@torch.no_grad()
def dead_output_channels(model: nn.Module, sparsity: DynamicSparsity | None) -> dict:
    """Output channels of the masked layers whose every input kernel is masked (they output only their bias).

    -> ``{"dead": n, "channels": total output channels of masked layers, "fraction", "per_layer": {name: n}}``.
    A Conv3d mask is (out, in); a ConvTranspose3d weight is (in, out, ...) so its mask is (in, out).
    """
    if sparsity is None:
        return {"dead": 0, "channels": 0, "fraction": 0.0, "per_layer": {}}
    mods = dict(model.named_modules())
    dead = total = 0
    per = {}
    for n in sparsity.names:
        m = sparsity.weight_mask(n).bool()
        m = m.flatten(2).any(-1) if m.dim() > 2 else m
        alive = m.any(0) if isinstance(mods[n], nn.ConvTranspose3d) else m.any(1)
        per[n] = int((~alive).sum())
        dead += per[n]
        total += alive.numel()
    return {"dead": dead, "channels": total, "fraction": dead / max(1, total), "per_layer": per}
