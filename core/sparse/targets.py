"""Which modules' weights get a sparse mask."""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence

from torch import nn

__all__ = ["select_targets", "DEFAULT_TYPES"]

DEFAULT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _has_weight(module: nn.Module) -> bool:
    return isinstance(getattr(module, "weight", None), nn.Parameter)


def select_targets(
    model: nn.Module, targets: None | str | Sequence[str] | Callable[[str, nn.Module], bool] = None
) -> dict[str, nn.Module]:
    """``{module name: module}`` whose ``.weight`` will be masked, in model order.

    ``targets``:
      * ``None``: every ``Conv1d/2d/3d`` and ``Linear`` (subclasses included, e.g. attention out-projections);
      * a glob or list of globs (``fnmatch``) on module names, e.g. ``["features.*", "classifier"]``;
      * ``callable(name, module) -> bool``.
    Globs and callables choose among modules owning a ``weight`` Parameter with >= 2 dims (norm layers'
    1-D scales are never masked). ValueError when nothing matches, naming the filter and some modules.
    """
    candidates = [(n, m) for n, m in model.named_modules() if n and _has_weight(m)]
    if targets is None:
        chosen = [(n, m) for n, m in candidates if isinstance(m, DEFAULT_TYPES)]
        what = "targets=None (Conv1d/Conv2d/Conv3d/Linear)"
    else:
        candidates = [(n, m) for n, m in candidates if m.weight.dim() >= 2]
        if isinstance(targets, str):
            targets = [targets]
        if callable(targets):
            chosen = [(n, m) for n, m in candidates if targets(n, m)]
            what = f"targets={getattr(targets, '__name__', repr(targets))}"
        elif isinstance(targets, Sequence) and all(isinstance(t, str) for t in targets):
            chosen = [(n, m) for n, m in candidates if any(fnmatch.fnmatchcase(n, t) for t in targets)]
            what = f"targets={list(targets)!r}"
        else:
            raise ValueError(
                f"targets={targets!r} is not valid; valid choices: None, a glob, a list of globs, or callable(name, module)"
            )
    if not chosen:
        names = [n for n, _ in candidates] or [n for n, _ in model.named_modules() if n]
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"{what} matched no module with a weight; modules with weights: {shown or '(none)'}")
    return dict(chosen)
