"""DSFF (dynamic sparse feature fusion): kernel-level sparsity on E2ENet's fusion layers, in the two fidelities.

* ``paper`` (what the paper describes): ``core.sparse.DynamicSparsity(granularity="kernel", prune="magnitude",
  grow="random")`` with a uniform (or ERK) density ``1 - S`` over the fusion layers, the prune fraction following
  Cosine(drop_start -> drop_end) and updates every ``update_every`` steps (``static``: no updates).
* ``official`` (boqian333/E2ENet-Medical, ``sparselearning/core_channel.py``, ``Masking`` in ``'uniform'`` mode):

  - the level-0 node convolutions (the official ``weight.shape[0] == 48``: the six conv layers with
    ``channels[0]`` outputs; never the transposed convs, whose first weight axis is their input) at a fixed
    density (0.2), every other fusion layer at ``1 - S``; ``round(numel * d / k)`` random kernels per layer;
  - an update prunes ``ceil(rate * nnz / k)`` kernels by L1 norm (every kernel at or below the boundary value),
    then regrows as many at random among *all* zero kernels, the just-pruned ones included (a regrown just-pruned
    kernel keeps its weights); ``rate`` follows ``CosineDecay(0.5, T, eta_min=0.001)``;
  - the documented command (``--fix False`` parsed by ``type=bool``, i.e. True) never updates: ``static``.

Also here: the count of output channels left without any input kernel ("dead")."""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from core.schedules import Cosine
from core.sparse import DynamicSparsity
from core.sparse.density import allocate_densities

from apps.e2enet.models.e2enet import E2ENet, fusion_targets

__all__ = ["FIDELITIES", "build_dsff", "dsff_densities", "official_densities", "official_masks", "level0_targets",
           "level0_convs", "dead_output_channels", "OfficialKernelSparsity", "sparse_flops"]

FIDELITIES = ("paper", "official")


def level0_targets(names: list[str]) -> list[str]:
    """The fusion layers at full resolution: convs of the level-0 nodes ``nodes.0_j`` and the upsamplings into them."""
    return [n for n in names if n.startswith("nodes.0_") or n.startswith("ups.0_")]


def level0_convs(names: list[str]) -> list[str]:
    """The level-0 node convolutions only (output channels = ``channels[0]``): the official 0.2 rule's layers."""
    return [n for n in names if n.startswith("nodes.0_")]


def dsff_densities(model: E2ENet, sparsity: float, *, init: str = "uniform", level0_min_density: float | None = None,
                   level0_fixed_density: float | None = None) -> dict[str, float]:
    """Per-layer densities of the fusion layers at sparsity ``S`` (the paper's allocation): ``init`` ("uniform" |
    "erk") allocates ``1 - S`` over the layers; ``level0_min_density`` keeps the level-0 layers (convs and the
    upsamplings into them) at ``max(x, 1 - S)``; ``level0_fixed_density`` fixes the level-0 convs at ``x`` (the
    official rule). Fixed layers are left out of the budget, so the other layers hold exactly ``1 - S``."""
    mods = dict(model.named_modules())
    names = fusion_targets(model)
    shapes = {n: tuple(mods[n].weight.shape) for n in names}
    fixed = {}
    if level0_min_density is not None:
        fixed = {n: max(float(level0_min_density), 1.0 - sparsity) for n in level0_targets(names)}
    if level0_fixed_density is not None:
        fixed.update({n: float(level0_fixed_density) for n in level0_convs(names)})
    return allocate_densities(shapes, 1.0 - sparsity, init, fixed=fixed)


def official_densities(model: E2ENet, sparsity: float, level0_density: float = 0.2) -> dict[str, float]:
    """The official ``'uniform'`` init: level-0 convs at ``level0_density``, every other fusion layer at ``1 - S``."""
    lv0 = set(level0_convs(fusion_targets(model)))
    return {n: (float(level0_density) if n in lv0 else 1.0 - sparsity) for n in fusion_targets(model)}


def official_masks(model: E2ENet, densities: Mapping[str, float], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``{layer: (dim0, dim1) bool kernel mask}`` with ``round(numel * d / k)`` random kernels on (the official
    ``kernel_num = round(nonzeros / k_size)``; Python's round, half to even, as numpy's)."""
    mods = dict(model.named_modules())
    out = {}
    for n, d in densities.items():
        w = mods[n].weight
        k = int(math.prod(w.shape[2:]))
        n_kernels = int(w.shape[0]) * int(w.shape[1])
        keep = min(n_kernels, int(round(w.numel() * float(d) / k)))
        flat = torch.zeros(n_kernels, dtype=torch.bool)
        flat[torch.randperm(n_kernels, generator=generator)[:keep]] = True
        out[n] = flat.view(int(w.shape[0]), int(w.shape[1]))
    return out


class OfficialKernelSparsity(DynamicSparsity):
    """``DynamicSparsity`` (masks exact through every optimizer step, checkpointed state, DDP broadcast) whose
    topology update is the official code's ``truncate_weights`` with ``kernel_death`` / ``kernel_growth``
    (module docstring). Built with ``OfficialKernelSparsity.from_masks(...)``."""

    @torch.no_grad()
    def update_topology(self, drop_fraction: float | None = None) -> dict[str, int]:
        if self.grow == "none":
            return {n: 0 for n in self.names}
        rate = self.drop_fraction(self.step_count) if drop_fraction is None else float(drop_fraction)
        new, replaced = {}, {}
        for name, mask in self.masks.items():
            w = self.weight(name).detach()
            k = int(math.prod(w.shape[2:])) if w.dim() > 2 else 1
            l1 = w.abs().flatten(2).sum(-1).float().cpu() if w.dim() > 2 else w.abs().float().cpu()
            m = mask.cpu().clone()
            nnz_el = float(m.sum()) * k                            # name2nonzeros: elements under the mask
            zeros_el = m.numel() * k - nnz_el
            prune = math.ceil(rate * nnz_el / k)                   # kernel_death: prune_num
            num_zeros = math.ceil(zeros_el / k)
            if prune <= 0:
                new[name], replaced[name] = mask, 0
                continue
            order = torch.sort(l1.reshape(-1)).values
            thr = order[min(num_zeros + prune, order.numel()) - 1]
            m[l1 <= thr] = False                                   # every kernel at or below the boundary value
            free = (~m).reshape(-1).nonzero().squeeze(1)           # kernel_growth: all zero kernels, just-pruned too
            grow = free[torch.randperm(free.numel(), generator=self.generator)[: min(prune, free.numel())]]
            m.view(-1)[grow] = True
            new[name], replaced[name] = m.to(mask.device), prune
        state = self.state_dict()
        state["masks"] = new
        self.load_state_dict(state)   # sets the masks and applies them: pruned kernels -> 0, regrown ones keep their values
        return replaced


def build_dsff(model: E2ENet, sparsity: float, *, fidelity: str = "paper", total_steps: int, update_every: int = 1200,
               drop_start: float = 0.5, drop_end: float = 0.0, init: str = "uniform",
               level0_min_density: float | None = None, level0_fixed_density: float | None = None, static: bool = False,
               seed: int = 0) -> DynamicSparsity | None:
    """None for ``sparsity == 0`` (dense); else kernel masks on every fusion layer (module docstring). The values
    are validated once, at the config door (``apps.e2enet.recipe.settings_from_config``)."""
    if sparsity == 0.0:
        return None
    drop = Cosine(drop_start, drop_end, max(1, total_steps))
    if fidelity == "official":
        dens = official_densities(model, sparsity, 0.2 if level0_fixed_density is None else level0_fixed_density)
        masks = official_masks(model, dens, torch.Generator().manual_seed(seed))
        cls = DynamicSparsity if static else OfficialKernelSparsity
        kw = {} if static else dict(grow="random", drop_fraction=drop, update_every=update_every, end_step=None)
        return cls.from_masks(model, masks, granularity="kernel", seed=seed, **kw)
    dens = dsff_densities(model, sparsity, init=init, level0_min_density=level0_min_density,
                          level0_fixed_density=level0_fixed_density)
    names = set(dens)
    return DynamicSparsity(model, density=1.0 - sparsity, granularity="kernel", prune="magnitude",
                           grow="none" if static else "random", drop_fraction=drop, update_every=update_every,
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


def sparse_flops(model, x, densities: dict[str, float] | None) -> dict:
    """``core.metrics.count_flops`` of ``model`` on ``x`` with ``densities``, with each grid node's upsampling counted
    once: a node's first conv calls its ``ups`` transposed conv inside its own forward, so torch's FLOP counter puts
    the upsampling's FLOPs under both modules and count_flops (which nests by module name) would scale them twice.
    Returns count_flops' dict with ``sparse`` corrected."""
    from core.metrics import count_flops

    fl = count_flops(model, x, densities=densities)
    if densities and isinstance(model, E2ENet):
        root, per = type(model).__name__, fl["per_module"]
        extra = 0.0
        for key in model.ups:
            conv = f"nodes.{key}.0.conv"
            if conv in densities:
                extra += (1.0 - float(densities[conv])) * per.get(f"{root}.ups.{key}", 0)
        fl["sparse"] = int(round(fl["sparse"] + extra))
    return fl
