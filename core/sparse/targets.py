"""Which parameters get a sparse mask: any named weight matrix or conv kernel, attention included.

A *target* is one parameter (or one row block of it: the Q, K or V third of an
``nn.MultiheadAttention.in_proj_weight``). Its *name* is what masks, reports, densities and state
dicts are keyed by:

* a module's ``weight``: the module's name (``"encoder.layers.0.linear1"``), as before parameters
  were targets, so masks, checkpoints and per-module tools (``count_flops(densities=...)``) keep working;
* any other parameter: the full parameter name (``"encoder.layers.0.self_attn.in_proj_weight"``);
* a Q/K/V third (``split_qkv=True``): the parameter name + ``"[q]"``, ``"[k]"`` or ``"[v]"``.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["select_targets", "select_parameters", "resolve_target", "SparseTarget", "DEFAULT_TYPES", "QKV"]

DEFAULT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
QKV = ("q", "k", "v")

TargetFilter = None | str | Sequence[str] | Callable[[str, nn.Module], bool]


@dataclass(frozen=True)
class SparseTarget:
    """One masked tensor: ``getattr(module, attr)`` (rows ``[row_start, row_stop)`` for a Q/K/V block)."""

    name: str            # key of masks / report / state_dict
    module_name: str     # owning module ("" for the root)
    attr: str            # parameter attribute on that module ("weight", "in_proj_weight", ...)
    module: nn.Module
    rows: tuple[int, int] | None = None  # row block of the parameter; None: the whole parameter

    @property
    def param_name(self) -> str:
        """Full parameter name as in ``model.named_parameters()``."""
        return f"{self.module_name}.{self.attr}" if self.module_name else self.attr

    @property
    def param(self) -> torch.Tensor:
        """The parameter (looked up each time, so ``model.to(...)`` and parametrizations are followed)."""
        return getattr(self.module, self.attr)

    def block(self, t: torch.Tensor) -> torch.Tensor:
        """Parameter-shaped ``t`` -> this target's part (a view; ``t`` itself without a row block)."""
        if self.rows is None:
            return t
        return t.narrow(0, self.rows[0], self.rows[1] - self.rows[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.block(self.param).shape)


def _name(module_name: str, attr: str) -> str:
    if attr == "weight" and module_name:
        return module_name
    return f"{module_name}.{attr}" if module_name else attr


def _eligible(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """``(module name, module, attr)`` of every >= 2-D parameter that is not a bias, in model order.

    Parameters owned by a parametrization (``*.parametrizations.*``: soft-mask logits, originals) are skipped;
    a tied parameter is listed once (under its first owner).
    """
    out, seen = [], set()
    for mname, mod in model.named_modules():
        if "parametrizations" in mname.split("."):
            continue
        for attr, p in mod.named_parameters(recurse=False):
            if p.dim() < 2 or "bias" in attr or id(p) in seen:
                continue
            seen.add(id(p))
            out.append((mname, mod, attr))
    return out


def _default(mod: nn.Module, attr: str) -> bool:
    if isinstance(mod, DEFAULT_TYPES):
        return attr == "weight"
    if isinstance(mod, nn.MultiheadAttention):
        return attr in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
    return False


def _ancestors(module_name: str) -> list[str]:
    """``"a.b.c" -> ["a", "a.b", "a.b.c"]`` (the root "" is never included)."""
    if not module_name:
        return []
    parts = module_name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _split(t: SparseTarget) -> list[SparseTarget]:
    """``in_proj_weight`` (3E, E) -> its Q, K, V row blocks; any other target unchanged."""
    if not (isinstance(t.module, nn.MultiheadAttention) and t.attr == "in_proj_weight"):
        return [t]
    e = t.param.shape[0] // 3
    return [SparseTarget(f"{t.name}[{q}]", t.module_name, t.attr, t.module, (i * e, (i + 1) * e))
            for i, q in enumerate(QKV)]


def select_parameters(model: nn.Module, targets: TargetFilter = None, *, split_qkv: bool = False) -> dict[str, SparseTarget]:
    """``{target name: SparseTarget}`` in model order (names: see the module docstring).

    ``targets``:
      * ``None``: the ``weight`` of every ``Conv1d/2d/3d`` and ``Linear`` (subclasses included, e.g. attention
        out-projections) and every ``nn.MultiheadAttention``'s ``in_proj_weight`` (or ``q/k/v_proj_weight``);
      * a glob or list of globs (``fnmatch``). A parameter is chosen when a glob matches its full name
        (``"*.in_proj_weight"``, ``"encoder.*"``), its target name, or the name of any module containing it,
        so module-name globs keep working and ``"*self_attn"`` picks ``in_proj_weight`` and ``out_proj.weight``;
      * ``callable(module_name, module) -> bool``: the chosen modules' own parameters (``weight``, ``in_proj_weight``).
    Only parameters with >= 2 dims whose attribute name has no "bias" are candidates (norm scales, biases and
    MHA's ``bias_k``/``bias_v`` never are). ``split_qkv``: every chosen ``in_proj_weight`` becomes three targets,
    ``[q]``, ``[k]`` and ``[v]``, each with its own density. ValueError when nothing matches, naming the filter
    and some candidates.
    """
    cands = _eligible(model)
    if targets is None:
        chosen = [c for c in cands if _default(c[1], c[2])]
        what = "targets=None (Conv1d/Conv2d/Conv3d/Linear weights, MultiheadAttention in_proj_weight)"
    else:
        if isinstance(targets, str):
            targets = [targets]
        if callable(targets):
            chosen = [c for c in cands if c[0] and targets(c[0], c[1])]
            what = f"targets={getattr(targets, '__name__', repr(targets))}"
        elif isinstance(targets, Sequence) and all(isinstance(t, str) for t in targets):
            globs = list(targets)

            def hit(mname: str, attr: str) -> bool:
                names = [_name(mname, attr), f"{mname}.{attr}" if mname else attr] + _ancestors(mname)
                return any(fnmatch.fnmatchcase(n, g) for n in names for g in globs)

            chosen = [c for c in cands if hit(c[0], c[2])]
            what = f"targets={globs!r}"
        else:
            raise ValueError(
                f"targets={targets!r} is not valid; valid choices: None, a glob, a list of globs, or callable(name, module)"
            )
    if not chosen:
        names = [_name(m, a) for m, _, a in cands]
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"{what} matched no module or parameter with a >= 2-D weight; candidates: {shown or '(none)'}")
    out: dict[str, SparseTarget] = {}
    for mname, mod, attr in chosen:
        t = SparseTarget(_name(mname, attr), mname, attr, mod)
        for s in (_split(t) if split_qkv else [t]):
            out[s.name] = s
    return out


def resolve_target(model: nn.Module, name: str) -> SparseTarget:
    """A target from its name: a module name (its ``weight``), a parameter name, or ``"<param>[q|k|v]"``.

    ValueError naming the candidates when ``name`` is none of these.
    """
    block = None
    base = name
    if name.endswith(("[q]", "[k]", "[v]")):
        base, block = name[:-3], name[-2]
    modules = dict(model.named_modules())
    cands = {}
    for mname, mod, attr in _eligible(model):
        cands[_name(mname, attr)] = (mname, mod, attr)
        cands[f"{mname}.{attr}" if mname else attr] = (mname, mod, attr)
    hit = cands.get(base)
    if hit is None and base in modules and base and isinstance(getattr(modules[base], "weight", None), nn.Parameter):
        hit = (base, modules[base], "weight")  # e.g. a 1-D weight asked for explicitly: checked by the caller
    if hit is None:
        shown = sorted({_name(m, a) for m, _, a in _eligible(model)})
        raise ValueError(f"no module weight or parameter named {base!r}; candidates: {shown[:12]}")
    t = SparseTarget(_name(hit[0], hit[2]), hit[0], hit[2], hit[1])
    if block is None:
        return t
    parts = {s.name[-2]: s for s in _split(t)}
    if len(parts) == 1:
        raise ValueError(f"{name!r}: only an nn.MultiheadAttention in_proj_weight has [q]/[k]/[v] blocks")
    return parts[block]


def select_targets(model: nn.Module, targets: TargetFilter = None) -> dict[str, nn.Module]:
    """``{target name: owning module}`` for ``select_parameters(model, targets)`` (kept for existing callers;
    a module appears under the name of each of its chosen parameters)."""
    return {n: t.module for n, t in select_parameters(model, targets).items()}

