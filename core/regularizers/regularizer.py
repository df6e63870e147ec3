"""SoftMaskL1: learned sparsity for the shared loop's ``regularizer=`` slot -- soft masks, their L1 price, when
they learn, how sharp they are, how a hard mask is read from them, and when that mask has settled.

The loop (``core.training.loop.TrainLoop(..., regularizer=reg)``) adds ``reg.penalty()`` to the loss and calls
``reg.step()`` after every optimizer step; it checkpoints ``reg.state_dict()``. With ``lr`` given, the
regularizer trains the logits itself in ``step()`` with Adam (its per-logit step is set by the learning rate, not
by the size of the gradient, so one mask learning rate means the same on every model size; and the logits stay
out of the model optimizer and of its gradient clipping); with ``lr=None`` the caller's optimizer must hold
``reg.parameters()``. The caller feeds validation errors to ``reg.observe`` and asks ``reg.check()`` every few
steps whether the hard mask has settled.

**When the mask learns (the start).** Until the *start* the logits are frozen (``SoftMasks.set_gate(0)``: zero
gradient, unchanged value), the penalty is 0 and the temperature stays at ``beta_start``. The start is the
first step at which both hold: at least ``start_after`` optimizer steps are done (e.g. the end of the LR
warm-up) and, when ``start_below`` is given, the latest observed validation error is at most ``start_below``
(the model has started to learn). So the mask cannot form, let alone saturate, before the model has learned
anything: its outcome depends on what the model learned.

**How sharp it is.** ``m = sigmoid(beta * logit)`` with logits bounded in ``[-bound, bound]`` (the
``SoftMasks``' ``bound``) and ``beta`` rising exponentially from ``beta_start`` to ``beta_end`` over
``anneal_steps`` steps *after the start* (Continuous Sparsification's temperature schedule, Savarese et al.
2020, started late). A mask entry is at most ``sigmoid(beta(t) * bound)`` saturated at step t.

**The price.** ``penalty() = lam * sum of soft masks`` (``SoftMasks.penalty``: a soft count of kept weights):
the pull on one logit is ``lam * beta * sigmoid'`` on any model size.

**Allocation: how a hard mask is read from the logits.** ``"global"`` (the MSRS paper's global L1): every entry
whose soft mask exceeds the threshold (logit > 0 for threshold 0.5), one rule for the whole model, so the
per-layer densities are whatever the penalty left. ``"erk"`` (layer-wise): the overall density ``density`` (or,
when None, the global rule's overall density at that moment) is spread over the layers by ERK
(``core.sparse.density.allocate_densities``, as the static / SET / RigL baselines do) and each layer keeps its
largest logits. The soft phase is the same either way; only how the hard mask is read differs, so allocation
and selection can be told apart.

**Settled.** ``check()`` feeds the hard mask to the ``MaskStability`` detector -- only after the start (a
check before the model has learned does not count) -- and returns whether it reports a settled topology.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from core.schedules import Exponential
from core.sparse.density import allocate_densities
from core.validation import check_choice

from .soft_masks import SoftMasks
from .stability import MaskStability

__all__ = ["SoftMaskL1", "ALLOCATIONS"]

ALLOCATIONS = ("global", "erk")
ADAM_EPS = 1e-12


def _positive(name: str, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={v!r} must be a positive number") from None
    if not (f > 0 and math.isfinite(f)):
        raise ValueError(f"{name}={v!r} must be a positive finite number")
    return f


class SoftMaskL1:
    """See the module docstring. ``masks``: the model's ``SoftMasks`` (built before the optimizers)."""

    def __init__(self, masks: SoftMasks, *, lam: float, beta_start: float, beta_end: float, anneal_steps: int,
                 start_after: int = 0, start_below: float | None = None, allocation: str = "global",
                 density: float | None = None, stability: MaskStability | None = None,
                 lr: float | None = None) -> None:
        try:
            lam = float(lam)
        except (TypeError, ValueError):
            raise ValueError(f"lam={lam!r} must be a number >= 0") from None
        if not (lam >= 0 and math.isfinite(lam)):
            raise ValueError(f"lam={lam!r} must be a finite number >= 0")
        self.masks, self.lam = masks, lam
        self.beta_start = _positive("beta_start", beta_start)
        self.beta_end = _positive("beta_end", beta_end)
        if isinstance(anneal_steps, bool) or int(anneal_steps) != anneal_steps or int(anneal_steps) < 1:
            raise ValueError(f"anneal_steps={anneal_steps!r} must be an integer >= 1")
        self.anneal_steps = int(anneal_steps)
        if isinstance(start_after, bool) or int(start_after) != start_after or int(start_after) < 0:
            raise ValueError(f"start_after={start_after!r} must be an integer >= 0")
        self.start_after = int(start_after)
        self.start_below = None if start_below is None else float(start_below)
        self.allocation = check_choice("allocation", allocation, ALLOCATIONS)
        if density is not None and not 0.0 < float(density) <= 1.0:
            raise ValueError(f"density={density!r} must be in (0, 1] or None")
        if density is not None and self.allocation == "global":
            raise ValueError("density is read by allocation='erk' only (the global rule's density is learned)")
        self.density = None if density is None else float(density)
        self.stability = stability
        if lr is not None and not (float(lr) > 0 and math.isfinite(float(lr))):
            raise ValueError(f"lr={lr!r} must be a positive number (the logits' Adam learning rate) or None")
        self.lr = None if lr is None else float(lr)
        # eps far below any gradient a logit gets: Adam's step is then lr * m / sqrt(v) whatever the gradients' scale
        # (the default 1e-8 is the size of the price's pull on a logit at auto_avsr's width and would shrink it)
        self.optimizer = None if lr is None else torch.optim.Adam(masks.parameters(), lr=self.lr, eps=ADAM_EPS)
        self._beta_schedule = Exponential(self.beta_start, self.beta_end, self.anneal_steps)
        self.step_count = 0
        self.start_step: int | None = None
        self.last_metric: float | None = None
        self._maybe_start()
        self._apply()

    # ------------------------------------------------------------------ schedule
    @property
    def started(self) -> bool:
        return self.start_step is not None

    @property
    def beta(self) -> float:
        return self.masks.beta

    def beta_at(self, step: int) -> float:
        """The temperature after ``step`` optimizer steps (``beta_start`` until the start)."""
        if self.start_step is None or step < self.start_step:
            return self.beta_start
        return self._beta_schedule(step - self.start_step)

    def _ready(self) -> bool:
        if self.step_count < self.start_after:
            return False
        return self.start_below is None or (self.last_metric is not None and self.last_metric <= self.start_below)

    def _maybe_start(self) -> None:
        if self.start_step is None and self._ready():
            self.start_step = self.step_count

    def _apply(self) -> None:
        self.masks.set_gate(1.0 if self.started else 0.0)
        self.masks.set_beta(self.beta_at(self.step_count))

    def observe(self, metric: float) -> None:
        """The latest validation error (lower is better, e.g. WER); decides the start when ``start_below`` is set."""
        m = float(metric)
        if not math.isnan(m):
            self.last_metric = m

    def step(self) -> None:
        """After each optimizer step (the loop calls it): step the logits' Adam (after the start, when this
        regularizer owns it), bound the logits, count the step, start when ready, set the gate and the temperature."""
        if self.optimizer is not None:
            if self.started:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.masks.clamp_()
        self.step_count += 1
        self._maybe_start()
        self._apply()

    # ------------------------------------------------------------------ loss
    def parameters(self) -> list[nn.Parameter]:
        return self.masks.parameters()

    def penalty(self) -> Tensor:
        """``lam * soft count of kept weights`` after the start; 0 before (the logits do not learn then)."""
        if self.optimizer is not None:           # a step skipped by the loop (fp16 overflow) left gradients
            self.optimizer.zero_grad(set_to_none=True)
        if not self.started or self.lam == 0.0:
            p = self.masks.parameters()[0]
            return torch.zeros((), device=p.device, dtype=p.dtype)
        return self.lam * self.masks.penalty()

    # ------------------------------------------------------------------ hard masks
    def global_density(self) -> float:
        """Overall density of the global rule (soft mask > threshold)."""
        return self.masks.density()

    def layer_budget(self) -> dict[str, float]:
        """Per-layer densities of the ``erk`` rule now (ERK at ``density`` or at the global rule's density)."""
        d = self.density if self.density is not None else self.global_density()
        d = min(max(d, 1e-12), 1.0)
        return allocate_densities(self.masks.shapes(), d, "erk")

    def hard(self) -> dict[str, Tensor]:
        """{name: logits-shaped bool mask} by the allocation rule."""
        if self.allocation == "global":
            return self.masks.hard()
        return self.masks.hard_per_layer(self.layer_budget())

    def hard_density(self, hard: dict[str, Tensor] | None = None) -> float:
        return self.masks.masks_density(self.hard() if hard is None else hard)

    def check(self) -> bool:
        """Feed the hard mask to the stability detector (only after the start); True when it reports settled."""
        if self.stability is None:
            raise ValueError("this regularizer was built without a stability detector")
        if not self.started:
            return False
        return self.stability.update(self.hard())

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"step": self.step_count, "start_step": self.start_step, "last_metric": self.last_metric,
                "masks": self.masks.state_dict(),
                "stability": None if self.stability is None else self.stability.state_dict(),
                "optimizer": None if self.optimizer is None else self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        missing = [k for k in ("step", "start_step", "last_metric", "masks") if k not in state]
        if missing:
            raise ValueError(f"soft-mask regularizer state lacks {missing}; got keys {sorted(state)}")
        self.masks.load_state_dict(state["masks"])
        self.step_count = int(state["step"])
        self.start_step = None if state["start_step"] is None else int(state["start_step"])
        self.last_metric = state["last_metric"]
        if self.stability is not None and state.get("stability") is not None:
            self.stability.load_state_dict(state["stability"])
        if self.optimizer is not None:
            if state.get("optimizer") is None:
                raise ValueError("soft-mask regularizer state has no optimizer state, but this one trains its logits")
            self.optimizer.load_state_dict(state["optimizer"])
        self._apply()

    def __repr__(self) -> str:
        return (f"SoftMaskL1(lam={self.lam:g}, beta {self.beta_start:g}->{self.beta_end:g} over {self.anneal_steps} "
                f"steps, start_after={self.start_after}, start_below={self.start_below}, allocation={self.allocation!r}, "
                f"started={self.start_step})")
