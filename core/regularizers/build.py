"""Plain-keyword factory for ``SoftMaskL1`` (no config objects here).

``build_regularizer(model, lam=..., beta=...)`` wraps the model's targets in ``SoftMasks`` and returns the
``SoftMaskL1`` bundle for the loop's ``regularizer=`` slot (``None`` with ``enabled=False``). ``lam`` has no
default here: the app's config holds the one default (apps/msrs: ``msrs.lam`` in its train.yaml).
"""
from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from .regularizer import SoftMaskL1
from .soft_masks import SoftMasks
from .stability import MaskStability

__all__ = ["build_regularizer"]


def build_regularizer(model: nn.Module, *, lam: float, enabled: bool = True, beta: float | Mapping = 1.0,
                      targets=None, init_logit: float = 3.0, threshold: float = 0.5, granularity: str = "weight",
                      bound: float | None = None, start_after: int = 0, start_below: float | None = None,
                      allocation: str = "global", density: float | None = None,
                      stability: Mapping | None = None, lr: float | None = None) -> SoftMaskL1 | None:
    """``None`` when ``enabled`` is false; else ``SoftMaskL1(SoftMasks(model, targets, ...), lam=lam, ...)``.

    ``beta``: a number (constant temperature) or ``{start, end, anneal_steps}`` (exponential from the start of mask
    learning). ``stability``: ``MaskStability`` keywords, or None for no detector. ``lr``: the logits' own Adam
    learning rate (None: the caller's optimizer trains them).
    """
    if not enabled:
        return None
    if isinstance(beta, Mapping):
        unknown = sorted(set(beta) - {"start", "end", "anneal_steps"})
        if unknown or not {"start", "end", "anneal_steps"} <= set(beta):
            raise ValueError(f"beta={dict(beta)!r} must be a number or {{start, end, anneal_steps}}")
        b0, b1, n = beta["start"], beta["end"], beta["anneal_steps"]
    else:
        b0 = b1 = beta
        n = 1
    masks = SoftMasks(model, targets, beta=float(b0), init_logit=init_logit, threshold=threshold,
                      granularity=granularity, bound=bound)
    stab = MaskStability(**dict(stability)) if stability is not None else None
    return SoftMaskL1(masks, lam=lam, beta_start=b0, beta_end=b1, anneal_steps=n, start_after=start_after,
                      start_below=start_below, allocation=allocation, density=density, stability=stab,
                      lr=lr)
