"""Mask stability: normalised Hamming distance between consecutive hardened masks.

``MaskStability(window, tol)`` keeps the last ``window`` masks and reports them stable when every
distance between consecutive masks in the window is at most ``tol`` (the max criterion: one jump
is enough to be unstable). Used to stop mask learning once the topology has settled.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["mask_distance", "MaskStability"]


def mask_distance(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> float:
    """Fraction of entries where two mask dicts differ (as bools), over all entries of all layers."""
    if set(a) != set(b):
        raise ValueError(f"mask dicts have different layers: {sorted(set(a) ^ set(b))}")
    if not a:
        raise ValueError("mask_distance needs at least one layer; got empty dicts")
    diff = total = 0
    for k in a:
        if tuple(a[k].shape) != tuple(b[k].shape):
            raise ValueError(f"mask {k!r} has shapes {tuple(a[k].shape)} and {tuple(b[k].shape)}")
        diff += int(torch.count_nonzero(a[k].bool() != b[k].bool()))
        total += a[k].numel()
    return diff / total if total else 0.0


class MaskStability:
    """Detects when hardened masks stop changing.

    ``update(masks)`` records the distance to the previous masks in ``distances`` and returns
    ``stable``: True once ``window`` masks were seen and every consecutive distance among the last
    ``window`` is <= ``tol``. ``stable_at`` is the 0-based update index at which that first held.
    """

    def __init__(self, window: int = 5, tol: float = 0.05) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window={window!r} must be an integer >= 2 (distances need two masks)")
        try:
            tol_f = float(tol)
        except (TypeError, ValueError):
            raise ValueError(f"tol={tol!r} must be a number in [0, 1]") from None
        if not 0.0 <= tol_f <= 1.0 or math.isnan(tol_f):
            raise ValueError(f"tol={tol!r} must be in [0, 1] (a normalised Hamming distance)")
        self.window, self.tol = window, tol_f
        self._masks: deque[dict[str, Tensor]] = deque(maxlen=window)
        self.distances: list[float] = []
        self.num_updates = 0
        self.stable = False
        self.stable_at: int | None = None

    def update(self, masks: Mapping[str, Tensor]) -> bool:
        new = {k: v.detach().bool().cpu().clone() for k, v in masks.items()}
        if self._masks:
            self.distances.append(mask_distance(self._masks[-1], new))
        self._masks.append(new)
        self.num_updates += 1
        recent = self.distances[-(self.window - 1):]
        self.stable = len(self._masks) == self.window and max(recent) <= self.tol
        if self.stable and self.stable_at is None:
            self.stable_at = self.num_updates - 1
        return self.stable

    def state_dict(self) -> dict:
        return dict(window=self.window, tol=self.tol, distances=list(self.distances), num_updates=self.num_updates,
                    stable=self.stable, stable_at=self.stable_at, masks=[dict(m) for m in self._masks])

    def load_state_dict(self, state: dict) -> None:
        if state.get("window") != self.window:
            raise ValueError(f"stability state has window={state.get('window')!r} but this detector has "
                             f"window={self.window}")
        self.tol = float(state["tol"])
        self.distances = list(state["distances"])
        self.num_updates = int(state["num_updates"])
        self.stable = bool(state["stable"])
        self.stable_at = state["stable_at"]
        self._masks = deque((dict(m) for m in state["masks"]), maxlen=self.window)
