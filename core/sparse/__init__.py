"""Dynamic sparse masks on weights, one concept a file: density allocation (``density``), target selection
(``targets``), prune/grow criteria as registered objects (``criteria``), the exact-count update step (``topology``),
the drop-fraction schedule (``drop_fraction``), optimizer-state masking (``optimizer_masking``), gradient clipping
over live weights (``clipping``) and the engine that ties them together (``engine.DynamicSparsity``)."""
from core.sparse.build import build_sparsity
from core.sparse.clipping import clip_grad_norm_live, live_grad_norm
from core.sparse.criteria import (GROW_CRITERIA, PRUNE_CRITERIA, GrowCriterion, PruneCriterion, grow_criteria,
                                  make_grow, make_prune, prune_criteria, register_grow, register_prune)
from core.sparse.density import (allocate_densities, dense_first_last_densities, erk_densities, global_density,
                                 layer_counts, uniform_densities)
from core.sparse.drop_fraction import make_drop_fraction
from core.sparse.engine import INITS, DynamicSparsity
from core.sparse.plots import plot_density
from core.sparse.targets import SparseTarget, resolve_target, select_parameters, select_targets
from core.sparse.topology import GRANULARITIES, prune_and_grow, topk_random_ties

__all__ = [
    "DynamicSparsity", "build_sparsity", "make_drop_fraction", "select_targets", "erk_densities", "uniform_densities",
    "dense_first_last_densities", "layer_counts", "global_density", "prune_and_grow", "plot_density",
    "INITS", "GRANULARITIES", "GROW_CRITERIA", "PRUNE_CRITERIA",
    "select_parameters", "resolve_target", "SparseTarget", "allocate_densities", "topk_random_ties",
    "clip_grad_norm_live", "live_grad_norm",
    "PruneCriterion", "GrowCriterion", "register_prune", "register_grow", "make_prune", "make_grow",
    "prune_criteria", "grow_criteria",
]
