"""Plain-keyword factory matching the keys of ``core/configs/sparse/*.yaml`` (no config objects here)."""
from __future__ import annotations

from torch import nn

from core.sparse.engine import DynamicSparsity
from core.validation import check_fraction, check_positive_int

__all__ = ["build_sparsity"]


def build_sparsity(model: nn.Module, *, enabled: bool = True, total_steps: int | None = None,
                   end_step_fraction: float | None = None, **kwargs) -> DynamicSparsity | None:
    """``None`` when ``enabled`` is false; otherwise ``DynamicSparsity(model, **kwargs)`` with
    ``end_step = round(end_step_fraction * total_steps)`` when a fraction is given (then ``total_steps`` is required).

    A recipe calls ``build_sparsity(model, total_steps=n, seed=cfg.seed, **to_container(cfg.sparse))``.
    """
    if not enabled:
        return None
    if end_step_fraction is not None:
        if "end_step" in kwargs and kwargs["end_step"] is not None:
            raise ValueError("give either end_step or end_step_fraction, not both")
        if total_steps is None:
            raise ValueError(f"end_step_fraction={end_step_fraction} needs total_steps")
        frac = check_fraction("end_step_fraction", end_step_fraction)
        kwargs["end_step"] = max(1, int(round(frac * check_positive_int("total_steps", total_steps))))
    return DynamicSparsity(model, **kwargs)
