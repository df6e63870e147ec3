"""Parameter counts: dense and non-zero (after masking)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_parameters"]


@torch.no_grad()
def count_parameters(model: nn.Module, masks: dict[str, torch.Tensor] | None = None, trainable_only: bool = False) -> dict:
    """``{"total": N, "nonzero": M}`` over the model's parameters.

    ``masks`` maps a module name (as in ``named_modules``) or a parameter name to a mask broadcastable
    to that weight; masked entries count as zero even if the stored weight is not (yet) zero.
    Parametrized weights (``torch.nn.utils.parametrize``) are counted once, by their effective value.
    """
    masks = dict(masks or {})
    total = nonzero = 0
    seen = set()
    for pname, p in model.named_parameters():
        if trainable_only and not p.requires_grad:
            continue
        if ".parametrizations." in pname:
            # original weight of a parametrized module: count the effective tensor instead
            mod_name, _, rest = pname.partition(".parametrizations.")
            wname = rest.split(".")[0]
            key = f"{mod_name}.{wname}"
            if key in seen:
                continue
            if rest.endswith(".original") or rest.endswith(".original0"):
                mod = model.get_submodule(mod_name) if mod_name else model
                w = getattr(mod, wname)
                seen.add(key)
                total += w.numel()
                nonzero += int(torch.count_nonzero(_apply_mask(w, masks, mod_name, key)))
            continue  # mask logits and other parametrization parameters are not model weights
        mod_name = pname.rpartition(".")[0]
        total += p.numel()
        nonzero += int(torch.count_nonzero(_apply_mask(p, masks, mod_name, pname)))
    return {"total": int(total), "nonzero": int(nonzero)}


def _apply_mask(w: torch.Tensor, masks: dict, mod_name: str, pname: str) -> torch.Tensor:
    m = masks.get(pname)
    if m is None and pname.endswith(".weight"):
        m = masks.get(mod_name)
    if m is None:
        return w
    m = m.to(w.device)
    while m.dim() < w.dim():  # kernel-level (out, in) masks broadcast over the kernel
        m = m.unsqueeze(-1)
    return w * m
