"""Plain-keyword factory matching ``core/configs/regularizer/*.yaml`` (no config objects here).

``build_regularizer(model, total_steps=n, **to_container(cfg.regularizer))`` returns ``None``
for ``enabled: false`` or a ``SoftMaskL1`` bundle: the soft masks, their penalty weight and a
stability detector, with one ``state_dict`` for checkpoints.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from core.schedules import Schedule, make_schedule
from core.validation import check_positive_int, check_range

from .soft_masks import SoftMasks
from .stability import MaskStability

__all__ = ["SoftMaskL1", "build_regularizer", "make_beta"]


@dataclass
class SoftMaskL1:
    """Soft masks trained with ``task_loss + lam * masks.penalty()``, plus a stability detector."""

    masks: SoftMasks
    lam: float
    stability: MaskStability | None = None

    def penalty(self) -> Tensor:
        """Scalar ``lam * mean soft-mask value`` to add to the loss."""
        return self.lam * self.masks.penalty()

    def step(self) -> None:
        """Advance beta; call once per optimizer step."""
        self.masks.step()

    def check_stable(self) -> bool:
        """Feed the current hard masks to the stability detector (call e.g. once per epoch)."""
        if self.stability is None:
            raise ValueError("this regularizer was built without a stability detector (stability: null)")
        return self.stability.update(self.masks.hard())

    def state_dict(self) -> dict:
        return {"masks": self.masks.state_dict(),
                "stability": None if self.stability is None else self.stability.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.masks.load_state_dict(state["masks"])
        if self.stability is not None and state.get("stability") is not None:
            self.stability.load_state_dict(state["stability"])


def make_beta(beta, total_steps: int | None) -> float | Schedule:
    """A number, or ``{schedule: name, start, end[, total_steps]}`` (total_steps defaults to ``total_steps``)."""
    if isinstance(beta, Mapping):
        kw = dict(beta)
        name = kw.pop("schedule", None)
        if name is None:
            raise ValueError(f"beta={beta!r} needs a 'schedule' key (e.g. exponential) or a plain number")
        if name != "constant" and kw.get("total_steps") is None:
            if total_steps is None:
                raise ValueError(f"beta schedule {name!r} needs total_steps (pass the number of training steps)")
            kw["total_steps"] = check_positive_int("total_steps", total_steps)
        return make_schedule(name, **kw)
    return beta


def build_regularizer(model: nn.Module, *, enabled: bool = True, total_steps: int | None = None,
                      lam: float = 1e-4, beta=1.0, stability: Mapping | None = None, **kwargs) -> SoftMaskL1 | None:
    """``None`` when ``enabled`` is false; else ``SoftMaskL1(SoftMasks(model, beta=..., **kwargs), lam, MaskStability(**stability))``."""
    if not enabled:
        return None
    lam = check_range("lam", lam, 0.0, float("inf"))
    masks = SoftMasks(model, beta=make_beta(beta, total_steps), **kwargs)
    stab = MaskStability(**dict(stability)) if stability is not None else None
    return SoftMaskL1(masks, lam, stab)
