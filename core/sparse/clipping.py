"""Gradient-norm clipping that measures the live (unpruned) weights only.

Pruned weights are stored as zeros and their gradients stay dense (RigL's growth reads them), so
``torch.nn.utils.clip_grad_norm_`` on a sparse model also measures gradients of weights that do not exist:
at low density that norm can be several times the live-weight norm (``tests/core/sparse/test_sparse_clipping.py``
prints it for a 0.1-density MLP), so live weights are clipped harder than the same clip would clip a
truly sparse model.

``clip_grad_norm_live`` computes the norm with every masked entry excluded, then multiplies *every*
gradient, pruned entries included, by the same coefficient ``min(1, max_norm / (norm + 1e-6))``
(``torch.nn.utils.clip_grads_with_norm_``). Consequences, by construction:

* the live entries get exactly the update that clipping the masked gradient would give;
* the pruned entries are scaled by the same positive factor, so the ordering of ``|grad|`` that RigL growth
  ranks by is unchanged (growth sees the dense gradient, uniformly rescaled);
* without a sparsity engine it is ``torch.nn.utils.clip_grad_norm_``.

Call it where ``clip_grad_norm_`` was called: after ``backward`` (and ``scaler.unscale_(optimizer)``),
before ``optimizer.step()``.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn.utils import clip_grads_with_norm_, get_total_norm

__all__ = ["clip_grad_norm_live", "live_grad_norm"]


def _params(parameters) -> list[torch.Tensor]:
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    return list(parameters)


def live_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], sparsity=None, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False) -> torch.Tensor:
    """Scalar ``norm_type``-norm over all gradients with the entries ``sparsity`` prunes left out.

    ``sparsity``: a ``DynamicSparsity`` (or anything with ``masked_parameters() -> [(param, float mask)]``),
    or None (plain total norm). Parameters without a gradient are skipped.
    """
    params = _params(parameters)
    masks = {}
    if sparsity is not None:
        masks = {id(p): m for p, m in sparsity.masked_parameters()}
    plain, masked, fm = [], [], []
    for p in params:
        if p.grad is None:
            continue
        m = masks.get(id(p))
        if m is None:
            plain.append(p.grad)
        else:
            masked.append(p.grad)
            fm.append(m if m.dtype == p.grad.dtype else m.to(p.grad.dtype))
    live = plain + (list(torch._foreach_mul(masked, fm)) if masked else [])  # masked copies, not in place
    if not live:
        return torch.tensor(0.0)
    return get_total_norm(live, norm_type, error_if_nonfinite)


def clip_grad_norm_live(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float, sparsity=None, *,
                        norm_type: float = 2.0, error_if_nonfinite: bool = False) -> torch.Tensor:
    """Clip gradients in place by their live-weight norm; return that norm (before clipping).

    ``(grads of parameters) -> scalar``: the norm is ``live_grad_norm(parameters, sparsity, norm_type)``;
    every gradient (pruned entries included) is multiplied by ``min(1, max_norm / (norm + 1e-6))``.
    ValueError for a ``max_norm`` that is not a positive number.
    """
    try:
        max_norm = float(max_norm)
    except (TypeError, ValueError):
        raise ValueError(f"max_norm={max_norm!r} must be a positive number") from None
    if not max_norm > 0:
        raise ValueError(f"max_norm={max_norm!r} must be a positive number")
    params = [p for p in _params(parameters) if p.grad is not None]
    total = live_grad_norm(params, sparsity, norm_type, error_if_nonfinite)
    if params:
        clip_grads_with_norm_(params, max_norm, total)
    return total
