"""Per-layer density allocation: uniform, RigL's Erdős–Rényi-kernel (ERK), dense first/last.

All functions take ``shapes: {name: weight shape}`` (ordered as the model's layers) and a global
``density`` in (0, 1], and return ``{name: density}``. ``layer_counts`` turns densities into exact
integer counts of active mask entries whose sum is the rounded global count.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from core.validation import check_fraction

__all__ = ["uniform_densities", "erk_densities", "dense_first_last_densities", "layer_counts", "global_density",
           "allocate_densities", "ALLOCATIONS"]

ALLOCATIONS = ("erk", "uniform", "dense_first_last")


def _numel(shape: Sequence[int]) -> int:
    return int(math.prod(int(s) for s in shape))


def _check_shapes(shapes: Mapping[str, Sequence[int]]) -> None:
    if not shapes:
        raise ValueError("shapes is empty: need at least one layer")
    for name, shape in shapes.items():
        if len(shape) == 0 or _numel(shape) == 0:
            raise ValueError(f"layer {name!r} has an empty shape {tuple(shape)}")


def global_density(shapes: Mapping[str, Sequence[int]], densities: Mapping[str, float]) -> float:
    """Fraction of all weights that are active: ``sum_l d_l n_l / sum_l n_l``."""
    total = sum(_numel(s) for s in shapes.values())
    return sum(densities[n] * _numel(s) for n, s in shapes.items()) / total


def uniform_densities(shapes: Mapping[str, Sequence[int]], density: float) -> dict[str, float]:
    """Every layer gets ``density``."""
    _check_shapes(shapes)
    density = check_fraction("density", density)
    return {name: density for name in shapes}


def erk_densities(shapes: Mapping[str, Sequence[int]], density: float, power_scale: float = 1.0) -> dict[str, float]:
    """RigL's Erdős–Rényi-kernel densities (Evci et al. 2020, ``sparse_utils.get_mask_random``).

    Raw probability of layer l: ``(sum(shape_l) / prod(shape_l)) ** power_scale``; the densities are
    ``eps * raw_l`` with one ``eps`` chosen so that ``sum_l d_l n_l == density * sum_l n_l``. A layer
    whose density would exceed 1 is made dense and ``eps`` is solved again over the others, until no
    layer exceeds 1. ``power_scale=0`` gives uniform densities.
    """
    _check_shapes(shapes)
    density = check_fraction("density", density)
    if not (power_scale >= 0):
        raise ValueError(f"power_scale={power_scale!r} must be >= 0")
    numel = {n: _numel(s) for n, s in shapes.items()}
    raw = {n: (sum(int(d) for d in s) / numel[n]) ** power_scale for n, s in shapes.items()}
    total = sum(numel.values())
    dense: set[str] = set()
    while True:
        sparse = [n for n in shapes if n not in dense]
        if not sparse:  # density == 1 (or close): everything dense
            return {n: 1.0 for n in shapes}
        budget = density * total - sum(numel[n] for n in dense)
        divisor = sum(raw[n] * numel[n] for n in sparse)
        eps = budget / divisor
        over = [n for n in sparse if eps * raw[n] > 1.0]
        if not over:
            break
        # RigL marks only the largest offender per round; the result is the same fixed point either
        # way, but one at a time is the faithful (and safe) order.
        dense.add(max(over, key=lambda n: raw[n]))
    return {n: (1.0 if n in dense else eps * raw[n]) for n in shapes}


def dense_first_last_densities(shapes: Mapping[str, Sequence[int]], density: float) -> dict[str, float]:
    """First and last layer dense, every other layer one density so the global density is exact.

    ValueError when the first and last layers alone exceed the global budget.
    """
    _check_shapes(shapes)
    density = check_fraction("density", density)
    names = list(shapes)
    numel = {n: _numel(s) for n, s in shapes.items()}
    edge = {names[0], names[-1]}
    rest = [n for n in names if n not in edge]
    total = sum(numel.values())
    budget = density * total - sum(numel[n] for n in edge)
    rest_total = sum(numel[n] for n in rest)
    if not rest:
        if density < 1.0:
            raise ValueError(f"init='dense_first_last' with only {len(names)} layer(s) cannot reach density={density}")
        return {n: 1.0 for n in names}
    d = budget / rest_total
    if d <= 0:
        raise ValueError(
            f"init='dense_first_last': the dense first/last layers ({names[0]!r}, {names[-1]!r}) alone exceed "
            f"density={density}; use a higher density or init='erk'/'uniform'"
        )
    d = min(d, 1.0)
    return {n: (1.0 if n in edge else d) for n in names}


def layer_counts(numels: Mapping[str, int], densities: Mapping[str, float]) -> dict[str, int]:
    """Integer active counts per layer (largest-remainder rounding).

    Each count is ``floor`` or ``ceil`` of ``d_l * n_l``, at most ``n_l``, and the counts sum to
    ``round(sum_l d_l * n_l)``, so the global count is exact.
    """
    exact = {n: float(densities[n]) * int(numels[n]) for n in numels}
    counts = {n: min(int(math.floor(v + 1e-9)), int(numels[n])) for n, v in exact.items()}
    target = int(round(sum(exact.values())))
    missing = target - sum(counts.values())
    if missing > 0:
        pos = {n: i for i, n in enumerate(numels)}
        order = sorted((n for n in numels if counts[n] < numels[n]), key=lambda n: (-(exact[n] - counts[n]), pos[n]))
        for n in order[:missing]:
            counts[n] += 1
    return counts


def allocate_densities(shapes: Mapping[str, Sequence[int]], density: float, init: str = "erk", *,
                       fixed: Mapping[str, float] | None = None, power_scale: float = 1.0) -> dict[str, float]:
    """Per-layer densities: layers in ``fixed`` keep their given density; the others get ``init``
    ("erk", "uniform", "dense_first_last") over themselves at global ``density``.

    This is RigL's ``custom_sparsity_map`` (``sparse_utils.get_sparsities``): fixed layers are left out of the
    budget, so the *other* layers hold exactly ``density`` of their weights. ValueError for an unknown init,
    a fixed layer that is not in ``shapes`` or a fixed density outside (0, 1].
    """
    _check_shapes(shapes)
    if init not in ALLOCATIONS:
        raise ValueError(f"init={init!r} is not valid; valid choices: {', '.join(ALLOCATIONS)}")
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed) - set(shapes))
    if unknown:
        raise ValueError(f"fixed densities name unknown layers {unknown}; layers: {list(shapes)[:12]}")
    out = {n: check_fraction(f"density of {n!r}", d) for n, d in fixed.items()}
    rest = {n: s for n, s in shapes.items() if n not in fixed}
    if rest:
        fn = {"erk": lambda sh, d: erk_densities(sh, d, power_scale=power_scale), "uniform": uniform_densities,
              "dense_first_last": dense_first_last_densities}[init]
        out.update(fn(rest, density))
    return {n: out[n] for n in shapes}
