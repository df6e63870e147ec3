"""SoftMasks: learnable soft masks ``w_eff = w * sigmoid(beta * logits)`` through torch parametrizations.

Each target parameter (chosen by ``core.sparse.targets.select_parameters``, the same selection as the
sparse engine: Conv/Linear weights and attention ``in_proj_weight`` by default, any >= 2-D parameter by glob)
gets a ``torch.nn.utils.parametrize`` parametrization that owns an ``nn.Parameter`` of logits, so the logits
show up in ``model.parameters()`` (create the optimizer AFTER wrapping the model) and in ``model.state_dict()``
(as ``<module>.parametrizations.<attr>.0.logits``; the raw weight is ``...parametrizations.<attr>.original``).
Masks are keyed by target name (a module's name for its ``weight``, else the parameter name, e.g.
``layers.0.self_attn.in_proj_weight``), the keys ``DynamicSparsity.from_masks`` takes.
``beta`` (a float or a ``core.schedules.Schedule`` of the step) sharpens the sigmoid over training
(``.step()`` advances it, ``.set_beta`` sets it directly); ``.penalty()`` is the L1 term to add to the loss;
``.harden()`` ends training with a binary mask (the global threshold, or masks the caller chose, e.g. per
layer), ``.remove()`` with the dense raw weights.

**Scale-free in the number of mask entries.** ``penalty()`` is the *sum* of the soft masks over every masked
weight (a soft count of the kept weights), not their mean: its pull on one logit,
``d penalty / d logit = beta * sigmoid'(beta * logit)`` (times the kernel size for kernel masks), does not
depend on how many entries the model has, so one ``lam`` means the same per-weight price on a model and on its
4x-wider copy (a mean would divide it by N: ~1e-7 per logit at auto_avsr's size).

**Bounded logits and a gradient gate.** ``bound`` keeps every logit in ``[-bound, bound]`` (``clamp_()``,
called after each mask step): the soft mask can never be more saturated than ``sigmoid(beta * bound)``, so
how binary it is follows the temperature schedule, not how long the logits were pushed. ``set_gate(0)``
stops the logits from learning (their gradient is exactly zero, the forward value unchanged: a
``logits * g + logits.detach() * (1 - g)`` gate, which keeps every logit in the autograd graph, as DDP needs).

Granularity ``"weight"``: one logit per weight entry. ``"kernel"``: one logit per ``(out, in)``
kernel of a conv, broadcast over the kernel's spatial entries (for Linear it equals "weight").
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from core.schedules import Schedule
from core.sparse.targets import SparseTarget, select_parameters
from core.validation import check_choice

from .penalties import soft_count

__all__ = ["SoftMasks", "SoftMaskParametrization", "GRANULARITIES"]

GRANULARITIES = ("weight", "kernel")


class SoftMaskParametrization(nn.Module):
    """``(out, in, *k) -> (out, in, *k)``: ``w * sigmoid(beta * logits)`` (logits broadcast over ``*k`` for kernels)."""

    def __init__(self, weight: Tensor, granularity: str, init_logit: float) -> None:
        super().__init__()
        shape = tuple(weight.shape) if granularity == "weight" else tuple(weight.shape[:2])
        self.logits = nn.Parameter(torch.full(shape, float(init_logit), dtype=weight.dtype, device=weight.device))
        self.view_shape = shape + (1,) * (weight.dim() - len(shape))
        self.kernel_numel = weight.numel() // math.prod(shape)
        self.beta = 1.0  # set by SoftMasks
        self.gate = 1.0  # set by SoftMasks: 1 = the logits learn, 0 = frozen (zero gradient, same value)

    def mask(self) -> Tensor:
        """Soft mask in logits' shape, values in (0, 1)."""
        z = self.logits
        if self.gate != 1.0:
            z = z * self.gate + z.detach() * (1.0 - self.gate)
        return torch.sigmoid(self.beta * z)

    def forward(self, weight: Tensor) -> Tensor:
        return weight * self.mask().view(self.view_shape)


def _check_threshold(threshold) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold={threshold!r} must be a number in (0, 1)") from None
    if not 0.0 < t < 1.0:
        raise ValueError(f"threshold={threshold!r} must be in (0, 1) (it is compared with sigmoid(beta * logits))")
    return t


class SoftMasks:
    """Learnable soft masks over the weights of ``targets`` (see module docstring).

    ``targets``: None (every Conv1d/2d/3d and Linear weight and MultiheadAttention ``in_proj_weight``), a glob or
    list of globs on parameter or module names, or ``callable(module_name, module) -> bool`` -- resolved by
    ``core.sparse.targets.select_parameters``. ``self.modules``: ``{name: owning module}``; ``self.targets``:
    ``{name: SparseTarget}``.
    """

    def __init__(self, model: nn.Module, targets: None | str | Sequence[str] | Callable = None, *,
                 beta: float | Schedule = 1.0, init_logit: float = 3.0, threshold: float = 0.5,
                 granularity: str = "weight", bound: float | None = None) -> None:
        self.granularity = check_choice("granularity", granularity, GRANULARITIES)
        self.threshold = _check_threshold(threshold)
        try:
            init_logit = float(init_logit)
        except (TypeError, ValueError):
            raise ValueError(f"init_logit={init_logit!r} must be a finite number") from None
        if not math.isfinite(init_logit):
            raise ValueError(f"init_logit={init_logit!r} must be a finite number")
        if bound is not None:
            try:
                bound = float(bound)
            except (TypeError, ValueError):
                raise ValueError(f"bound={bound!r} must be a positive number or None") from None
            if not (bound > 0 and math.isfinite(bound)):
                raise ValueError(f"bound={bound!r} must be a positive finite number or None")
            if abs(init_logit) > bound:
                raise ValueError(f"init_logit={init_logit} lies outside [-bound, bound] = [{-bound}, {bound}]")
        self.bound = bound
        if isinstance(beta, Schedule) or callable(beta):
            self._beta_fn = beta
        else:
            try:
                b = float(beta)
            except (TypeError, ValueError):
                raise ValueError(f"beta={beta!r} must be a positive number or a core.schedules.Schedule") from None
            self._beta_fn = lambda step, b=b: b
        self.model = model
        wrapped = [n for n, m in model.named_modules() if isinstance(m, SoftMaskParametrization)]
        if wrapped:
            raise ValueError(f"the model already has soft masks ({wrapped[0]!r}); remove or harden them first")
        chosen = select_parameters(model, targets)
        for name, t in chosen.items():
            if parametrize.is_parametrized(t.module, t.attr):
                raise ValueError(f"parameter {t.param_name!r} already has a parametrization")
        self.targets: dict[str, SparseTarget] = chosen
        self.modules: dict[str, nn.Module] = {n: t.module for n, t in chosen.items()}
        self._params: dict[str, SoftMaskParametrization] = {}
        for name, t in chosen.items():
            p = SoftMaskParametrization(getattr(t.module, t.attr), self.granularity, init_logit)
            parametrize.register_parametrization(t.module, t.attr, p)
            self._params[name] = p
        self._step = 0
        self._active = True
        self._gate = 1.0
        self._apply_beta()

    # ------------------------------------------------------------------ schedule
    @property
    def beta(self) -> float:
        return self._beta

    @property
    def step_count(self) -> int:
        return self._step

    def _apply_beta(self) -> None:
        b = float(self._beta_fn(self._step))
        if not (b > 0 and math.isfinite(b)):
            raise ValueError(f"beta={b!r} at step {self._step} must be a finite number > 0")
        self._beta = b
        for p in self._params.values():
            p.beta = b

    def step(self) -> None:
        """Advance the beta schedule by one step."""
        self._check_active()
        self._step += 1
        self._apply_beta()

    def set_beta(self, beta: float) -> None:
        """Set the temperature directly (for a caller that owns its own schedule, e.g. one that starts late)."""
        self._check_active()
        self._beta_fn = lambda step, b=float(beta): b
        self._apply_beta()

    @property
    def gate(self) -> float:
        return self._gate

    def set_gate(self, gate: float) -> None:
        """1: the logits learn; 0: their gradient is exactly zero (value and autograd graph unchanged)."""
        g = float(gate)
        if not 0.0 <= g <= 1.0:
            raise ValueError(f"gate={gate!r} must be in [0, 1]")
        self._gate = g
        for p in self._params.values():
            p.gate = g

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep every logit in [-bound, bound] (no-op without a bound); call after each mask optimizer step."""
        if self.bound is None or not self._active:
            return
        for p in self._params.values():
            p.logits.clamp_(-self.bound, self.bound)

    # ------------------------------------------------------------------ masks
    def _check_active(self) -> None:
        if not self._active:
            raise RuntimeError("the soft masks were already hardened or removed")

    def logits(self) -> dict[str, nn.Parameter]:
        """{module name: logits Parameter} (e.g. for their own optimizer group)."""
        self._check_active()
        return {n: p.logits for n, p in self._params.items()}

    def parameters(self) -> list[nn.Parameter]:
        return list(self.logits().values())

    def penalty(self) -> Tensor:
        """Scalar L1 of the soft masks as a soft count of kept weights: ``sum`` of sigmoid(beta * logits) over
        every masked weight (a kernel logit counts with its kernel size). Differentiable; its gradient on one
        logit does not depend on the number of entries (module docstring)."""
        self._check_active()
        return soft_count([p.mask() for p in self._params.values()],
                          [p.kernel_numel for p in self._params.values()])

    def numel(self) -> int:
        """Masked weights (a kernel counts with its size)."""
        return sum(p.logits.numel() * p.kernel_numel for p in self._params.values())

    def soft(self) -> dict[str, Tensor]:
        """{name: soft mask} detached, logits-shaped (weight shape, or (out, in) for kernels)."""
        self._check_active()
        with torch.no_grad():
            return {n: p.mask().detach().clone() for n, p in self._params.items()}

    def raw_logits(self) -> dict[str, Tensor]:
        """{name: logits} detached copies (logits-shaped)."""
        self._check_active()
        with torch.no_grad():
            return {n: p.logits.detach().clone() for n, p in self._params.items()}

    def hard(self, threshold: float | None = None) -> dict[str, Tensor]:
        """{name: bool mask} = soft > threshold, logits-shaped (the global rule: one threshold for every layer)."""
        thr = self.threshold if threshold is None else _check_threshold(threshold)
        return {n: s > thr for n, s in self.soft().items()}

    def hard_per_layer(self, densities: dict[str, float]) -> dict[str, Tensor]:
        """{name: bool mask} keeping, in each layer, the ``round(density * entries)`` entries with the largest
        logits (ties broken by position, deterministically): a per-layer budget (e.g. ERK) filled by the learned
        scores. ``densities``: {name: fraction in [0, 1]} for every layer."""
        missing = sorted(set(self._params) - set(densities))
        if missing:
            raise ValueError(f"hard_per_layer needs a density for every layer; missing {missing[:5]}")
        out = {}
        for n, lg in self.raw_logits().items():
            flat = lg.flatten()
            k = int(round(float(densities[n]) * flat.numel()))
            k = min(max(k, 0), flat.numel())
            order = torch.argsort(flat, descending=True, stable=True)
            keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
            keep[order[:k]] = True
            out[n] = keep.view(lg.shape)
        return out

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """{name: weight shape} of the masked tensors (for density allocations such as ERK)."""
        return {n: tuple(t.shape) for n, t in self.targets.items()}

    def masks_density(self, masks: dict[str, Tensor]) -> float:
        """Fraction of target weights that logits-shaped bool ``masks`` keep (a kernel counts with its size)."""
        kept = sum(int(h.sum()) * self._params[n].kernel_numel for n, h in masks.items())
        total = sum(h.numel() * self._params[n].kernel_numel for n, h in masks.items())
        return kept / total

    def density(self, threshold: float | None = None) -> float:
        """Fraction of target weights the hard mask keeps (a kernel counts with its size)."""
        return self.masks_density(self.hard(threshold))

    def _weight_masks(self, hard: dict[str, Tensor]) -> dict[str, Tensor]:
        out = {}
        for n, h in hard.items():
            t = self.targets[n]
            w = getattr(t.module.parametrizations, t.attr).original
            out[n] = h.to(w.device).view(self._params[n].view_shape).expand(w.shape).clone()
        return out

    def harden(self, threshold: float | None = None, masks: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Remove the parametrizations leaving ``weight = raw weight * hard mask``; return weight-shaped bool masks.
        The hard mask is ``hard(threshold)`` unless logits-shaped bool ``masks`` are given (e.g. ``hard_per_layer``)."""
        self._check_active()
        if masks is not None:
            if set(masks) != set(self._params):
                raise ValueError(f"harden(masks=...) needs one mask per layer; got {sorted(set(masks) ^ set(self._params))[:5]} "
                                 "extra or missing")
            hard = {n: m.bool() for n, m in masks.items()}
        else:
            hard = self.hard(threshold)
        masks = self._weight_masks(hard)
        for n, t in self.targets.items():
            parametrize.remove_parametrizations(t.module, t.attr, leave_parametrized=False)
            w = getattr(t.module, t.attr)
            with torch.no_grad():
                w.mul_(masks[n].to(w.dtype))
        self._active = False
        return masks

    def remove(self) -> None:
        """Remove the parametrizations leaving the raw dense weights (MSRS-D: masks only guided training)."""
        self._check_active()
        for t in self.targets.values():
            parametrize.remove_parametrizations(t.module, t.attr, leave_parametrized=False)
        self._active = False

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The step (beta follows from it) and the gate; the logits live in the model's state_dict."""
        return {"step": self._step, "gate": self._gate}

    def load_state_dict(self, state: dict) -> None:
        if "step" not in state:
            raise ValueError(f"soft-mask state needs key 'step'; got keys {sorted(state)}")
        self._step = int(state["step"])
        self._apply_beta()
        self.set_gate(float(state.get("gate", 1.0)))

    def __repr__(self) -> str:
        return (f"SoftMasks({len(self.targets)} parameters, granularity={self.granularity!r}, beta={self._beta:g}, "
                f"threshold={self.threshold})")
