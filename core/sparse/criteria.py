"""Prune and grow criteria: small registered objects, one class per criterion.

A topology update of ``DynamicSparsity`` drops, in every layer, the ``n`` active entries its *prune* criterion
scores lowest and grows ``n`` inactive entries its *grow* criterion scores highest (the exact-count step is
``core.sparse.topology.prune_and_grow``). A criterion is one method, in the spirit of ``torch.ao.pruning``'s
``update_mask``: it sees one layer and returns a mask-shaped score::

    @register_grow
    class GradientGrowth(GrowCriterion):
        name = "gradient"                      # DynamicSparsity(grow="gradient"), sparse/*.yaml `grow: gradient`

        def score(self, weight, grad, granularity):
            return kernel_reduce(grad, granularity)       # |grad| (or each kernel's L1)

Scores are mask-shaped: the weight's shape for granularity "weight", ``(out, in)`` for "kernel" (``kernel_reduce``
sums each kernel's |values|). A grow criterion may return ``None`` for "uniformly at random" (SET), drawn by the
engine from its seeded generator; ``updates = False`` makes a static topology (``grow="none"``).

Built in: prune "magnitude" (|w|); grow "random" (SET), "gradient" (RigL), "none" (static masks). A new criterion
is one class and its registration (``@register_prune`` / ``@register_grow``); ``DynamicSparsity(prune=..., grow=...)``
and the ``sparse`` config group then accept its name. An instance may also be passed directly.
"""
from __future__ import annotations

from typing import ClassVar

import torch

# the mechanics live in core.sparse.topology; re-exported here for callers of the old module
from core.sparse.topology import (GRANULARITIES, device_generator, kernel_reduce, mask_shape, prune_and_grow,
                                  random_mask, topk_random_ties)

__all__ = ["PruneCriterion", "GrowCriterion", "register_prune", "register_grow", "make_prune", "make_grow",
           "prune_criteria", "grow_criteria", "MagnitudePruning", "RandomGrowth", "GradientGrowth", "NoGrowth",
           "PRUNE_CRITERIA", "GROW_CRITERIA", "GRANULARITIES", "mask_shape", "kernel_reduce", "magnitude_score",
           "gradient_score", "random_score", "prune_and_grow", "random_mask", "topk_random_ties", "device_generator"]


class PruneCriterion:
    """Which active entries an update drops: those with the lowest ``score``."""

    name: ClassVar[str] = ""

    def score(self, weight: torch.Tensor, grad: torch.Tensor | None, granularity: str) -> torch.Tensor:
        """Mask-shaped scores of one layer (``weight`` is the layer's weight, ``grad`` its dense gradient or None)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class GrowCriterion:
    """Which inactive entries an update grows: those with the highest ``score`` (None: uniformly at random)."""

    name: ClassVar[str] = ""
    updates: ClassVar[bool] = True      # False: no topology updates at all (static masks)

    def score(self, weight: torch.Tensor, grad: torch.Tensor | None, granularity: str) -> torch.Tensor | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_PRUNE: dict[str, type[PruneCriterion]] = {}
_GROW: dict[str, type[GrowCriterion]] = {}


def _register(table: dict, base: type, cls: type) -> type:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{cls!r} must be a subclass of {base.__name__}")
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise ValueError(f"{cls.__name__}.name={name!r} must be a non-empty identifier (it is what configs write)")
    if name in table and table[name] is not cls:
        raise ValueError(f"a {base.__name__} named {name!r} is already registered ({table[name].__name__})")
    table[name] = cls
    return cls


def register_prune(cls: type[PruneCriterion]) -> type[PruneCriterion]:
    """Class decorator: make ``cls`` available as ``DynamicSparsity(prune=cls.name)``."""
    return _register(_PRUNE, PruneCriterion, cls)


def register_grow(cls: type[GrowCriterion]) -> type[GrowCriterion]:
    """Class decorator: make ``cls`` available as ``DynamicSparsity(grow=cls.name)``."""
    return _register(_GROW, GrowCriterion, cls)


def prune_criteria() -> tuple[str, ...]:
    """Names of the registered prune criteria (built-in ones first)."""
    return tuple(_PRUNE)


def grow_criteria() -> tuple[str, ...]:
    """Names of the registered grow criteria (built-in ones first)."""
    return tuple(_GROW)


def _make(table: dict, base: type, what: str, spec):
    if isinstance(spec, base):
        return spec
    if isinstance(spec, str) and spec in table:
        return table[spec]()
    raise ValueError(f"{what}={spec!r} is not a registered {what} criterion; valid choices: {', '.join(table)} "
                     f"(or a {base.__name__} instance)")


def make_prune(spec: str | PruneCriterion) -> PruneCriterion:
    """A prune criterion from its registered name (or an instance, returned as is); ValueError names the choices."""
    return _make(_PRUNE, PruneCriterion, "prune", spec)


def make_grow(spec: str | GrowCriterion) -> GrowCriterion:
    """A grow criterion from its registered name (or an instance, returned as is); ValueError names the choices."""
    return _make(_GROW, GrowCriterion, "grow", spec)


# ---- the built-in criteria ------------------------------------------------------------------------------------------

@register_prune
class MagnitudePruning(PruneCriterion):
    """Drop the smallest |w| (or kernel L1): SET, RigL."""

    name = "magnitude"

    def score(self, weight, grad, granularity):
        return kernel_reduce(weight, granularity)


@register_grow
class RandomGrowth(GrowCriterion):
    """Grow uniformly at random among inactive entries (SET, Mocanu et al. 2018); drawn from the engine's seed."""

    name = "random"

    def score(self, weight, grad, granularity):
        return None


@register_grow
class GradientGrowth(GrowCriterion):
    """Grow where the dense gradient is largest (RigL, Evci et al. 2020); kernel L1 of the gradient for "kernel"."""

    name = "gradient"

    def score(self, weight, grad, granularity):
        if grad is None:
            raise RuntimeError(
                "grow='gradient' needs the weights' gradients: call sparsity.step() after optimizer.step() "
                "and before optimizer.zero_grad()")
        return kernel_reduce(grad, granularity)


@register_grow
class NoGrowth(GrowCriterion):
    """Static masks: no topology update ever happens."""

    name = "none"
    updates = False

    def score(self, weight, grad, granularity):
        return None


# the built-in names (what configs of this checkout use); prune_criteria() / grow_criteria() list registrations too
PRUNE_CRITERIA = prune_criteria()
GROW_CRITERIA = grow_criteria()


# ---- function forms kept for callers of the old module ------------------------------------------------------------

def magnitude_score(weight: torch.Tensor, granularity: str) -> torch.Tensor:
    """Weight (or kernel L1) magnitude, mask-shaped (``MagnitudePruning``)."""
    return MagnitudePruning().score(weight, None, granularity)


def gradient_score(weight: torch.Tensor, granularity: str, grad: torch.Tensor | None = None) -> torch.Tensor:
    """RigL: dense gradient magnitude, mask-shaped (``GradientGrowth``). ``grad`` defaults to ``weight.grad``."""
    return GradientGrowth().score(weight, weight.grad if grad is None else grad, granularity)


def random_score(shape: tuple, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform random scores from a CPU ``generator``, moved to ``device``."""
    return torch.rand(shape, generator=generator).to(device)
