"""Parameter counts: total, masked out, kept by the masks, and literally non-zero.

Two conventions exist for a sparse network's size, and they differ by the parameters that happen to be
exactly zero (zero-initialised biases, norm offsets):

* ``unmasked`` = ``total - masked_out``: every parameter a mask keeps, whatever its value. This is what
  sparse-training papers report (E2ENet's 9.45M at S = 0.8, RigL's "parameters").
* ``nonzero``: entries whose value is non-zero after masking (a masked entry is zero).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["count_parameters"]


@torch.no_grad()
def count_parameters(model: nn.Module, masks: dict[str, torch.Tensor] | None = None, trainable_only: bool = False) -> dict:
    """``{"total": N, "masked_out": K, "unmasked": N - K, "nonzero": M}`` over the model's parameters.

    ``masks`` maps a module name (as in ``named_modules``) or a parameter name to a mask broadcastable
    to that weight (kernel-level ``(out, in)`` masks broadcast over the kernel); ``masked_out`` counts the
    entries a mask removes, ``nonzero`` the entries that are non-zero after masking (a masked entry counts
    as zero even if the stored weight is not zero yet). Parametrized weights
    (``torch.nn.utils.parametrize``) are counted once, by their effective value.
    """
    masks = dict(masks or {})
    total = nonzero = masked_out = 0
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
                kept, nz = _apply_mask(w, masks, mod_name, key)
                masked_out += w.numel() - kept
                nonzero += nz
            continue  # mask logits and other parametrization parameters are not model weights
        mod_name = pname.rpartition(".")[0]
        total += p.numel()
        kept, nz = _apply_mask(p, masks, mod_name, pname)
        masked_out += p.numel() - kept
        nonzero += nz
    return {"total": int(total), "masked_out": int(masked_out), "unmasked": int(total - masked_out), "nonzero": int(nonzero)}


def _apply_mask(w: torch.Tensor, masks: dict, mod_name: str, pname: str) -> tuple[int, int]:
    """-> (entries the mask keeps, non-zero entries after masking)."""
    m = masks.get(pname)
    if m is None and pname.endswith(".weight"):
        m = masks.get(mod_name)
    if m is None:
        return w.numel(), int(torch.count_nonzero(w))
    m = m.to(w.device)
    while m.dim() < w.dim():  # kernel-level (out, in) masks broadcast over the kernel
        m = m.unsqueeze(-1)
    keep = torch.broadcast_to(m != 0, w.shape)
    return int(keep.sum()), int(torch.count_nonzero(w * keep))
