"""MSRS: learn a soft mask with L1 sparse regularization until it settles, then switch.

``MSRSController`` wraps ``core.regularizers.SoftMasks`` + ``MaskStability`` on the chosen weights:

* mask phase: ``loss = task + lam * masks.penalty()``; every ``check_every`` steps the hard mask goes
  to the stability detector (``core.regularizers.MaskStability``: distance between checks under ``tol``,
  density change over the window under ``density_tol``, density at most ``max_density``) and its distance
  to the previous one and its density are logged; at the switch each check's distance to the final mask is
  added (``history[i]["to_final"]``);
* switch (when stable, or forced at ``force_at`` steps): ``variant="d"`` (MSRS-D) removes the masks and
  goes on dense from the raw weights; ``variant="s"`` (MSRS-S) hardens them (weights * hard mask) and
  hands the masks to ``core.sparse.DynamicSparsity.from_masks`` (static topology) attached to the
  optimizer, so masked weights and their optimizer state stay exactly zero.

The optimizer is rebuilt at the switch without the mask logits, carrying over the state of every
remaining parameter (``rebuild_optimizer``).
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from core.regularizers import MaskStability, SoftMasks
from core.schedules import Schedule
from core.sparse import DynamicSparsity

__all__ = ["MSRSController", "rebuild_optimizer", "VARIANTS"]

VARIANTS = ("d", "s")


def rebuild_optimizer(optimizer: torch.optim.Optimizer, params: Sequence[nn.Parameter]) -> torch.optim.Optimizer:
    """A new optimizer of the same class and hyper-parameters (first group's) over ``params``, with the
    per-parameter state copied from ``optimizer`` (Adam moments, step counts)."""
    g0 = optimizer.param_groups[0]
    accepted = inspect.signature(type(optimizer).__init__).parameters
    hp = {k: g0[k] for k in optimizer.defaults if k in g0 and k in accepted}
    new = type(optimizer)(list(params), **hp)
    for p in params:
        if p in optimizer.state:
            new.state[p] = optimizer.state[p]
    return new


class MSRSController:
    """See module docstring. ``targets``: module-name globs / callable as in ``core.sparse.select_targets``."""

    def __init__(self, model: nn.Module, targets, *, variant: str = "d", lam: float = 1.0,
                 beta: float | Schedule = 1.0, init_logit: float = 3.0, threshold: float = 0.5,
                 check_every: int = 10, window: int = 5, tol: float = 0.01, density_tol: float | None = 0.01,
                 max_density: float | None = 0.95, min_steps: int = 0, force_at: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r}; valid choices: {VARIANTS} (MSRS-D dense, MSRS-S sparse)")
        if check_every < 1:
            raise ValueError(f"check_every={check_every} must be >= 1")
        if lam < 0:
            raise ValueError(f"lam={lam} must be >= 0")
        self.model, self.variant, self.lam = model, variant, float(lam)
        self.masks = SoftMasks(model, targets, beta=beta, init_logit=init_logit, threshold=threshold)
        self.names = list(self.masks.modules)
        self.stability = MaskStability(window=window, tol=tol, density_tol=density_tol, max_density=max_density,
                                       keep_history=True)
        self.check_every, self.min_steps, self.force_at = check_every, min_steps, force_at
        self.history: list[dict] = []          # {step, distance, density}
        self.switch_step: int | None = None
        self.forced = False
        self.sparsity: DynamicSparsity | None = None
        self.final_density: float | None = None

    @property
    def active(self) -> bool:
        """True while the soft masks are being learned."""
        return self.switch_step is None

    def mask_parameters(self) -> list[nn.Parameter]:
        return self.masks.parameters()

    def penalty(self) -> torch.Tensor:
        """``lam * mean(sigmoid(beta * logits))`` (0 after the switch)."""
        if not self.active:
            return torch.zeros(())
        return self.lam * self.masks.penalty()

    def after_step(self, step: int) -> bool:
        """Call after each optimizer step (``step`` = steps done). Advances beta; every ``check_every``
        steps feeds the hard mask to the detector. Returns True when it is time to switch."""
        if not self.active:
            return False
        self.masks.step()
        if step % self.check_every:
            return self.force_at is not None and step >= self.force_at
        stable = self.stability.update(self.masks.hard())
        dist = self.stability.distances[-1] if self.stability.distances else None
        self.history.append({"step": step, "distance": dist, "density": self.masks.density()})
        if self.force_at is not None and step >= self.force_at:
            self.forced = not stable
            return True
        return stable and step >= self.min_steps

    @property
    def stable_step(self) -> int | None:
        """Training step at which the detector first reported a stable mask."""
        i = self.stability.stable_at
        return None if i is None else self.history[i]["step"]

    def switch(self, step: int, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Drop (MSRS-D) or harden (MSRS-S) the masks; returns the optimizer to use from now on."""
        if not self.active:
            raise RuntimeError(f"MSRS already switched at step {self.switch_step}")
        logits = {id(p) for p in self.masks.parameters()}
        self.final_density = self.masks.density()
        final = self.masks.hard()
        for h, d in zip(self.history, self.stability.distances_to(final)):
            h["to_final"] = d
        if self.variant == "d":
            self.masks.remove()
        else:
            hard = self.masks.harden()
        self.switch_step = int(step)
        # the parametrization's "original" tensors are now the modules' plain weights (same objects);
        # parameters in name order, so a resumed run (fresh model, no masks) builds the same optimizer
        params = [p for _, p in sorted(self.model.named_parameters(), key=lambda t: t[0]) if id(p) not in logits]
        new = rebuild_optimizer(optimizer, params)
        if self.variant == "s":
            self.sparsity = DynamicSparsity.from_masks(self.model, hard).attach(new)
        return new

    def attach_restored(self, optimizer: torch.optim.Optimizer, sparsity_state: dict | None) -> None:
        """After resuming past the switch: rebuild the sparse engine from its saved masks."""
        if self.variant == "s":
            if sparsity_state is None:
                raise ValueError("MSRS-S checkpoint past the switch has no sparsity state")
            self.sparsity = DynamicSparsity.from_masks(self.model, sparsity_state["masks"]).attach(optimizer)
            self.sparsity.load_state_dict(sparsity_state)

    def state_dict(self) -> dict:
        return {"masks": self.masks.state_dict() if self.active else None,
                "stability": self.stability.state_dict(), "history": list(self.history),
                "switch_step": self.switch_step, "forced": self.forced, "final_density": self.final_density}

    def load_state_dict(self, state: dict) -> None:
        """Restores the mask phase. If the state is past the switch, the caller must have built the model
        without masks: use ``MSRSController.restore_switched`` instead."""
        if state["switch_step"] is not None:
            raise ValueError("this MSRS state is past the switch; rebuild with MSRSController.restore_switched")
        self.masks.load_state_dict(state["masks"])
        self.stability.load_state_dict(state["stability"])
        self.history = list(state["history"])
        self.forced = state["forced"]

    @classmethod
    def restore_switched(cls, model: nn.Module, state: dict, variant: str, optimizer: torch.optim.Optimizer,
                         sparsity_state: dict | None) -> "MSRSController":
        """A controller in the post-switch phase, for resuming: no masks on the model; MSRS-S gets its
        ``DynamicSparsity`` back from ``sparsity_state``."""
        obj = cls.__new__(cls)
        obj.model, obj.variant, obj.lam = model, variant, 0.0
        obj.masks = None
        obj.names = []
        st = state["stability"]
        obj.stability = MaskStability(window=st["window"], tol=st["tol"], density_tol=st.get("density_tol"),
                                      max_density=st.get("max_density"), keep_history=st.get("keep_history", False))
        obj.stability.load_state_dict(state["stability"])
        obj.check_every, obj.min_steps, obj.force_at = 1, 0, None
        obj.history = list(state["history"])
        obj.switch_step, obj.forced, obj.final_density = state["switch_step"], state["forced"], state["final_density"]
        obj.sparsity = None
        obj.attach_restored(optimizer, sparsity_state)
        return obj
