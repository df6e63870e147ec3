"""DSFF: kernel-level dynamic sparsity on the fusion layers through core.sparse."""
from __future__ import annotations

from core.schedules import Cosine
from core.sparse import DynamicSparsity

from apps.e2enet.models.e2enet import E2ENet, fusion_targets

__all__ = ["build_dsff"]


def build_dsff(model: E2ENet, sparsity: float, *, total_steps: int, update_every: int = 1200, drop_start: float = 0.5,
               drop_end: float = 0.0, init: str = "uniform", seed: int = 0) -> DynamicSparsity | None:
    """None for ``sparsity == 0``; else masks with one bit per (out, in) kernel of every fusion layer at density
    ``1 - sparsity``; every ``update_every`` steps the lowest-L1 kernels are pruned and as many regrown at random
    (at zero), the fraction following Cosine(drop_start -> drop_end) over ``total_steps``."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"model.sparsity={sparsity} must be in [0, 1) (0 = dense)")
    if sparsity == 0.0:
        return None
    names = set(fusion_targets(model))
    return DynamicSparsity(model, density=1.0 - sparsity, init=init, granularity="kernel", prune="magnitude", grow="random",
                           drop_fraction=Cosine(drop_start, drop_end, max(1, total_steps)), update_every=update_every,
                           end_step=total_steps, targets=lambda n, m: n in names, seed=seed)
