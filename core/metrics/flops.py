"""FLOPs with ``torch.utils.flop_counter``, sparse-aware: a layer at weight density d costs d x its FLOPs."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops"]


@torch.no_grad()
def count_flops(model: nn.Module, *inputs, densities: dict[str, float] | None = None, **kw_inputs) -> dict:
    """Run one forward pass and count FLOPs.

    Returns ``{"dense": total FLOPs, "sparse": FLOPs with each module in ``densities`` scaled by its
    density, "per_module": {module name: dense FLOPs}}`` (a multiply-add counts as 2 FLOPs, the
    flop_counter convention). ``densities`` keys are module names as in ``named_modules()``. Nested keys
    (a container and modules inside it) do not double count: a density covers the FLOPs under its module that
    no deeper key claims, so every FLOP is scaled by exactly one density (its innermost) or by none.
    """
    densities = dict(densities or {})
    names = {m: n for n, m in model.named_modules()}
    unknown = [k for k in densities if k not in dict(model.named_modules())]
    if unknown:
        raise ValueError(f"densities name modules that are not in the model: {unknown[:5]}")
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(*inputs, **kw_inputs)
    finally:
        model.train(was_training)
    per_module_raw = counter.get_flop_counts()
    total = int(sum(counter.get_flop_counts().get("Global", {}).values()))
    # leaf attribution: FLOPs of a module that owns a density = flops counted under its name minus children with own densities
    per_module: dict[str, int] = {}
    for fqn, ops in per_module_raw.items():
        if fqn == "Global":
            continue
        per_module[fqn] = int(sum(ops.values()))
    sparse = float(total)
    for name, d in densities.items():
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= d <= 1.0:
            raise ValueError(f"density of {name!r} is {d}; must be in [0, 1]")
    for name, d in densities.items():
        # a density covers the FLOPs counted under its module that no deeper density claims: subtract the nearest
        # density-carrying descendants only (their counts already hold everything under them; subtracting a
        # grandchild too would take it off twice)
        inner = [o for o in densities if o != name and _is_under(o, name)]
        nearest = [o for o in inner if not any(p != o and _is_under(o, p) for p in inner)]
        own = per_module.get(_flop_name(model, name), 0) - sum(per_module.get(_flop_name(model, o), 0) for o in nearest)
        sparse -= (1.0 - float(d)) * own
    return {"dense": total, "sparse": int(round(sparse)), "per_module": per_module}


def _is_under(inner: str, outer: str) -> bool:
    """Module ``inner`` lies inside module ``outer`` (``""`` is the root, holding every other module)."""
    return outer == "" or inner.startswith(outer + ".")


def _flop_name(model: nn.Module, name: str) -> str:
    # FlopCounterMode names modules by their path with the root's class name as prefix
    root = type(model).__name__
    return root if name == "" else f"{root}.{name}"
