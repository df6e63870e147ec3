"""SoftMasks: learnable soft masks ``w_eff = w * sigmoid(beta * logits)`` through torch parametrizations.

Each target parameter (chosen by ``core.sparse.targets.select_parameters``, the same selection as the
sparse engine: Conv/Linear weights and attention ``in_proj_weight`` by default, any >= 2-D parameter by glob)
gets a ``torch.nn.utils.parametrize`` parametrization that owns an ``nn.Parameter`` of logits, so the logits
show up in ``model.parameters()`` (create the optimizer AFTER wrapping the model) and in ``model.state_dict()``
(as ``<module>.parametrizations.<attr>.0.logits``; the raw weight is ``...parametrizations.<attr>.original``).
Masks are keyed by target name (a module's name for its ``weight``, else the parameter name, e.g.
``layers.0.self_attn.in_proj_weight``), the keys ``DynamicSparsity.from_masks`` takes.
``beta`` (a float or a ``core.schedules.Schedule`` of the step) sharpens the sigmoid over training
(``.step()`` advances it); ``.penalty()`` is the L1 term to add to the loss; ``.harden()`` ends
training with a binary mask, ``.remove()`` with the dense raw weights.

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

from .penalties import l1_penalty

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

    def mask(self) -> Tensor:
        """Soft mask in logits' shape, values in (0, 1)."""
        return torch.sigmoid(self.beta * self.logits)

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
                 granularity: str = "weight") -> None:
        self.granularity = check_choice("granularity", granularity, GRANULARITIES)
        self.threshold = _check_threshold(threshold)
        try:
            init_logit = float(init_logit)
        except (TypeError, ValueError):
            raise ValueError(f"init_logit={init_logit!r} must be a finite number") from None
        if not math.isfinite(init_logit):
            raise ValueError(f"init_logit={init_logit!r} must be a finite number")
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
        """Scalar L1 of the soft masks: mean of sigmoid(beta * logits) over every mask entry (differentiable)."""
        self._check_active()
        return l1_penalty([p.mask() for p in self._params.values()])

    def soft(self) -> dict[str, Tensor]:
        """{name: soft mask} detached, logits-shaped (weight shape, or (out, in) for kernels)."""
        self._check_active()
        with torch.no_grad():
            return {n: p.mask().detach().clone() for n, p in self._params.items()}

    def hard(self, threshold: float | None = None) -> dict[str, Tensor]:
        """{name: bool mask} = soft > threshold, logits-shaped."""
        thr = self.threshold if threshold is None else _check_threshold(threshold)
        return {n: s > thr for n, s in self.soft().items()}

    def density(self, threshold: float | None = None) -> float:
        """Fraction of target weights the hard mask keeps (a kernel counts with its size)."""
        hard = self.hard(threshold)
        kept = sum(int(h.sum()) * self._params[n].kernel_numel for n, h in hard.items())
        total = sum(h.numel() * self._params[n].kernel_numel for n, h in hard.items())
        return kept / total

    def _weight_masks(self, threshold: float | None) -> dict[str, Tensor]:
        out = {}
        for n, h in self.hard(threshold).items():
            t = self.targets[n]
            w = getattr(t.module.parametrizations, t.attr).original
            out[n] = h.view(self._params[n].view_shape).expand(w.shape).clone()
        return out

    def harden(self, threshold: float | None = None) -> dict[str, Tensor]:
        """Remove the parametrizations leaving ``weight = raw weight * hard mask``; return weight-shaped bool masks."""
        self._check_active()
        masks = self._weight_masks(threshold)
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
        """The step (beta follows from it); the logits live in the model's state_dict."""
        return {"step": self._step}

    def load_state_dict(self, state: dict) -> None:
        if "step" not in state:
            raise ValueError(f"soft-mask state needs key 'step'; got keys {sorted(state)}")
        self._step = int(state["step"])
        self._apply_beta()

    def __repr__(self) -> str:
        return (f"SoftMasks({len(self.targets)} parameters, granularity={self.granularity!r}, beta={self._beta:g}, "
                f"threshold={self.threshold})")
