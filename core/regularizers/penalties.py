"""Sparsity penalties on tensors (differentiable)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor

__all__ = ["l1_penalty"]


def l1_penalty(tensors: Iterable[Tensor] | Mapping[str, Tensor]) -> Tensor:
    """Mean absolute value over every entry of every tensor: ``sum_t sum |t| / sum_t numel(t)`` -> scalar.

    The mean (not the sum) keeps the penalty's scale independent of the model size, so one ``lam``
    works for small and large models. Differentiable; ValueError on no tensors or no entries.
    """
    ts = list(tensors.values()) if isinstance(tensors, Mapping) else list(tensors)
    if not ts:
        raise ValueError("l1_penalty needs at least one tensor; got none")
    total = sum(t.numel() for t in ts)
    if total == 0:
        raise ValueError("l1_penalty got only empty tensors")
    return sum(t.abs().sum() for t in ts) / total
