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
    flop_counter convention). ``densities`` keys are module names as in ``named_modules()``.
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
        if not 0.0 <= d <= 1.0:
            raise ValueError(f"density of {name!r} is {d}; must be in [0, 1]")
        fqn = _flop_name(model, name)
        own = per_module.get(fqn, 0)
        # subtract FLOPs of descendant modules that also carry a density (counted separately)
        for other in densities:
            is_descendant = other != name and (name == "" or other.startswith(name + "."))
            if is_descendant:
                own -= per_module.get(_flop_name(model, other), 0)
        sparse -= (1.0 - d) * own
    return {"dense": total, "sparse": int(round(sparse)), "per_module": per_module}


def _flop_name(model: nn.Module, name: str) -> str:
    # FlopCounterMode names modules by their path with the root's class name as prefix
    root = type(model).__name__
    return root if name == "" else f"{root}.{name}"
