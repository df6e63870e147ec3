"""Mask stability: has the hardened mask settled into a topology?

``mask_distance`` is the normalised Hamming distance between two mask dicts (Early-Bird's mask distance).
``MaskStability(window, tol)`` keeps the last ``window`` masks and reports them stable when

* every distance between consecutive masks in the window is at most ``tol`` (one jump is enough to be
  unstable), and, when ``density_tol`` is given,
* the mask density moved by at most ``density_tol`` (absolute) from the first to the last mask of the
  window -- a mask that is still steadily thinning changes little between checks but has not settled; and,
  when ``max_density`` is given,
* the density is at most ``max_density``: a mask that still keeps (nearly) every weight has no topology
  yet, so an unpressured mask (e.g. an L1 weight of 0) that never moves is not "stable".

With only ``window`` and ``tol`` it is the plain Early-Bird criterion of earlier versions. ``distances``
and ``densities`` record every update; ``stable_at`` is the 0-based update index at which the criterion
first held. ``distances_to(final)`` gives each stored check's distance to a final mask (for plots of how
far each check was from the topology training ended with).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import torch
from torch import Tensor

__all__ = ["mask_distance", "mask_density", "MaskStability"]


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


def mask_density(masks: Mapping[str, Tensor]) -> float:
    """Fraction of True entries over all layers."""
    total = sum(m.numel() for m in masks.values())
    return sum(int(torch.count_nonzero(m.bool())) for m in masks.values()) / total if total else 0.0


def _fraction(name: str, value, allow_none: bool):
    if value is None and allow_none:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number in [0, 1]") from None
    if not 0.0 <= v <= 1.0 or math.isnan(v):
        raise ValueError(f"{name}={value!r} must be in [0, 1]")
    return v


class MaskStability:
    """Detects when hardened masks have settled (see module docstring).

    ``update(masks)`` records the distance to the previous masks in ``distances`` and the density in
    ``densities`` and returns ``stable``. ``keep_history=True`` also keeps every update's masks (packed,
    on CPU) so ``distances_to(final)`` can be computed; leave it off for large models.
    """

    def __init__(self, window: int = 5, tol: float = 0.05, *, density_tol: float | None = None,
                 max_density: float | None = None, keep_history: bool = False) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window={window!r} must be an integer >= 2 (distances need two masks)")
        tol_f = _fraction("tol", tol, False)
        self.window, self.tol = window, tol_f
        self.density_tol = _fraction("density_tol", density_tol, True)
        self.max_density = _fraction("max_density", max_density, True)
        self.keep_history = bool(keep_history)
        self._masks: deque[dict[str, Tensor]] = deque(maxlen=window)
        self._history: list[dict[str, Tensor]] = []
        self.distances: list[float] = []
        self.densities: list[float] = []
        self.num_updates = 0
        self.stable = False
        self.stable_at: int | None = None

    def update(self, masks: Mapping[str, Tensor]) -> bool:
        new = {k: v.detach().bool().cpu().clone() for k, v in masks.items()}
        if self._masks:
            self.distances.append(mask_distance(self._masks[-1], new))
        self._masks.append(new)
        self.densities.append(mask_density(new))
        if self.keep_history:
            self._history.append(new)
        self.num_updates += 1
        self.stable = self._criterion()
        if self.stable and self.stable_at is None:
            self.stable_at = self.num_updates - 1
        return self.stable

    def _criterion(self) -> bool:
        if len(self._masks) < self.window:
            return False
        if max(self.distances[-(self.window - 1):]) > self.tol:
            return False
        dens = self.densities[-self.window:]
        if self.density_tol is not None and abs(dens[-1] - dens[0]) > self.density_tol:
            return False
        if self.max_density is not None and dens[-1] > self.max_density:
            return False
        return True

    def distances_to(self, final: Mapping[str, Tensor]) -> list[float]:
        """Distance of every recorded update's mask to ``final`` (needs ``keep_history=True``)."""
        if not self.keep_history:
            raise ValueError("distances_to needs MaskStability(..., keep_history=True)")
        f = {k: v.detach().bool().cpu() for k, v in final.items()}
        return [mask_distance(m, f) for m in self._history]

    def state_dict(self) -> dict:
        return dict(window=self.window, tol=self.tol, density_tol=self.density_tol, max_density=self.max_density,
                    keep_history=self.keep_history, distances=list(self.distances), densities=list(self.densities),
                    num_updates=self.num_updates, stable=self.stable, stable_at=self.stable_at,
                    masks=[dict(m) for m in self._masks], history=[dict(m) for m in self._history])

    def load_state_dict(self, state: dict) -> None:
        if state.get("window") != self.window:
            raise ValueError(f"stability state has window={state.get('window')!r} but this detector has "
                             f"window={self.window}")
        self.tol = float(state["tol"])
        self.density_tol = state.get("density_tol", self.density_tol)
        self.max_density = state.get("max_density", self.max_density)
        self.distances = list(state["distances"])
        self.densities = list(state.get("densities", []))
        self.num_updates = int(state["num_updates"])
        self.stable = bool(state["stable"])
        self.stable_at = state["stable_at"]
        self._masks = deque((dict(m) for m in state["masks"]), maxlen=self.window)
        self._history = [dict(m) for m in state.get("history", [])]
