"""MSRS: learn a soft mask with sparse regularization until it settles, then switch (dense or sparse).

``MSRSController`` wraps a ``core.regularizers.SoftMaskL1`` (the soft masks, their L1 price, when they learn,
their temperature, the allocation rule and the stability detector), which the shared loop runs through its
``regularizer=`` slot (the loop adds ``reg.penalty()`` to the loss and calls ``reg.step()``). The controller:

* feeds validation WER to the regularizer (``observe_eval``: the mask starts learning only once the model has
  learned, ``SoftMaskL1.start_below``);
* every ``check_every`` steps (``after_step``) asks the regularizer whether the hard mask has settled (checks
  before the start do not count) and logs the check (step, distance to the previous check, density, temperature,
  last val WER);
* switches when settled and at least ``min_steps`` are done, or at ``force_at`` whatever the detector says
  (``forced`` records that the detector had not reported a settled mask, at a check step or not);
* at the switch (``switch``): MSRS-D removes the masks (raw dense weights), MSRS-S hardens them by the allocation
  rule and hands the masks to ``core.sparse.DynamicSparsity.from_masks`` (static topology) attached to the
  optimizer, so masked weights and their optimizer state stay exactly zero. It records what the diagnostics
  plot: per-layer density of the hard mask with the ERK density at the same overall density, and histograms of
  the soft mask values and logits.

The optimizer is rebuilt at the switch without the mask logits, carrying over the state of every remaining
parameter (``rebuild_optimizer``).
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from core.regularizers import SoftMaskL1
from core.sparse import DynamicSparsity
from core.sparse.density import allocate_densities

__all__ = ["MSRSController", "rebuild_optimizer", "VARIANTS", "HIST_BINS"]

VARIANTS = ("d", "s")
HIST_BINS = 40


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


def _histogram(values: torch.Tensor, lo: float, hi: float, bins: int = HIST_BINS) -> dict:
    v = values.detach().float().flatten().clamp(lo, hi)
    return {"lo": lo, "hi": hi, "counts": torch.histc(v, bins=bins, min=lo, max=hi).long().tolist()}


class MSRSController:
    """See module docstring. ``reg``: the model's ``SoftMaskL1`` (its masks already on the model)."""

    def __init__(self, model: nn.Module, reg: SoftMaskL1, *, variant: str, check_every: int, min_steps: int = 0,
                 force_at: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r}; valid choices: {VARIANTS} (MSRS-D dense, MSRS-S sparse)")
        if check_every < 1:
            raise ValueError(f"check_every={check_every} must be >= 1")
        if reg.stability is None:
            raise ValueError("MSRS needs a regularizer with a stability detector")
        self.model, self.reg, self.variant = model, reg, variant
        self.check_every, self.min_steps, self.force_at = int(check_every), int(min_steps), force_at
        self.history: list[dict] = []          # one record per check after the start
        self.switch_step: int | None = None
        self.forced = False
        self.sparsity: DynamicSparsity | None = None
        self.final_density: float | None = None
        self.layers: dict[str, dict] | None = None
        self.histograms: dict | None = None
        self.stable_step: int | None = None
        self._start: int | None = None

    # ------------------------------------------------------------------ phase
    @property
    def active(self) -> bool:
        """True while the soft masks are being learned."""
        return self.switch_step is None

    @property
    def start_step(self) -> int | None:
        """The step at which the mask started learning (None: not yet)."""
        return self.reg.start_step if self.reg is not None else self._start

    def mask_parameters(self) -> list[nn.Parameter]:
        return self.reg.parameters()

    def observe_eval(self, step: int, val_wer: float) -> None:
        """A validation WER (the loop evaluates every rank alike): decides when the mask starts learning."""
        if self.active:
            self.reg.observe(val_wer)

    def after_step(self, step: int) -> bool:
        """Call after each optimizer step (``step`` = steps done; the loop has already called ``reg.step()``).
        Every ``check_every`` steps after the start the hard mask goes to the detector. True: switch now."""
        if not self.active:
            return False
        stable = False
        if step % self.check_every == 0 and self.reg.started:
            stable = self.reg.check()
            st = self.reg.stability
            if stable and self.stable_step is None:
                self.stable_step = int(step)
            self.history.append({"step": int(step), "distance": st.distances[-1] if st.distances else None,
                                 "density": st.densities[-1],
                                 "global_density": self.reg.global_density(), "beta": self.reg.beta,
                                 "val_wer": self.reg.last_metric})
        if self.force_at is not None and step >= self.force_at:
            self.forced = not stable
            return True
        return stable and step >= self.min_steps

    # ------------------------------------------------------------------ switch
    def _record_masks(self, hard: dict[str, torch.Tensor]) -> None:
        masks = self.reg.masks
        shapes = masks.shapes()
        dens = {n: float(h.float().mean()) for n, h in hard.items()}
        numel = {n: int(torch.Size(s).numel()) for n, s in shapes.items()}
        overall = self.reg.hard_density(hard)
        erk = allocate_densities(shapes, min(max(overall, 1e-12), 1.0), "erk")
        self.layers = {n: {"density": dens[n], "erk": float(erk[n]), "numel": numel[n]} for n in shapes}
        soft = torch.cat([s.flatten() for s in masks.soft().values()])
        logits = torch.cat([lg.flatten() for lg in masks.raw_logits().values()])
        b = float(masks.bound) if masks.bound is not None else float(logits.abs().max())
        self.histograms = {"soft": _histogram(soft, 0.0, 1.0), "logits": _histogram(logits, -b, b),
                           "beta": self.reg.beta}
        self.final_density = overall

    def switch(self, step: int, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        """Drop (MSRS-D) or harden (MSRS-S) the masks; returns the optimizer to use from now on."""
        if not self.active:
            raise RuntimeError(f"MSRS already switched at step {self.switch_step}")
        masks = self.reg.masks
        logits = {id(p) for p in masks.parameters()}
        hard = self.reg.hard()
        self._record_masks(hard)
        st = self.reg.stability
        if st.keep_history:
            for h, d in zip(self.history, st.distances_to(hard)):
                h["to_final"] = d
        if self.variant == "d":
            masks.remove()
        else:
            hard = masks.harden(masks=hard)
        self.switch_step = int(step)
        # the parametrization's "original" tensors are now the modules' plain weights (same objects);
        # parameters in name order, so a resumed run (fresh model, no masks) builds the same optimizer
        params = [p for _, p in sorted(self.model.named_parameters(), key=lambda t: t[0]) if id(p) not in logits]
        new = rebuild_optimizer(optimizer, params)
        if self.variant == "s":
            self.sparsity = DynamicSparsity.from_masks(self.model, hard).attach(new)
        return new

    # ------------------------------------------------------------------ record and resume
    def record(self) -> dict:
        """What the run reports and what a resumed run needs to know about the mask phase (plain values)."""
        return {"history": list(self.history), "start_step": self.start_step, "stable_step": self.stable_step,
                "switch_step": self.switch_step, "forced": self.forced, "final_density": self.final_density,
                "layers": self.layers, "histograms": self.histograms}

    def load_record(self, rec: dict) -> None:
        """Restore the mask-phase record before the switch (the regularizer's own state comes from the loop)."""
        if rec.get("switch_step") is not None:
            raise ValueError("this MSRS record is past the switch; rebuild with MSRSController.restore_switched")
        self.history = list(rec["history"])
        self.forced = bool(rec["forced"])
        self.stable_step = rec.get("stable_step")

    @classmethod
    def restore_switched(cls, model: nn.Module, rec: dict, variant: str, optimizer: torch.optim.Optimizer,
                         sparsity_state: dict | None) -> "MSRSController":
        """A controller in the post-switch phase, for resuming: no masks on the model; MSRS-S gets its
        ``DynamicSparsity`` back from ``sparsity_state``."""
        obj = cls.__new__(cls)
        obj.model, obj.reg, obj.variant = model, None, variant
        obj.check_every, obj.min_steps, obj.force_at = 1, 0, None
        obj.history = list(rec["history"])
        obj.switch_step, obj.forced, obj.final_density = rec["switch_step"], rec["forced"], rec["final_density"]
        obj.layers, obj.histograms, obj.stable_step = rec.get("layers"), rec.get("histograms"), rec.get("stable_step")
        obj._start = rec.get("start_step")
        obj.sparsity = None
        if variant == "s":
            if sparsity_state is None:
                raise ValueError("MSRS-S checkpoint past the switch has no sparsity state")
            obj.sparsity = DynamicSparsity.from_masks(model, sparsity_state["masks"]).attach(optimizer)
            obj.sparsity.load_state_dict(sparsity_state)
        return obj

