"""Dynamic sparse masks on weights: density allocation, target selection, prune/grow criteria, the engine."""
from core.sparse.build import build_sparsity
from core.sparse.clipping import clip_grad_norm_live, live_grad_norm
from core.sparse.criteria import GRANULARITIES, GROW_CRITERIA, PRUNE_CRITERIA, prune_and_grow, topk_random_ties
from core.sparse.density import (allocate_densities, dense_first_last_densities, erk_densities, global_density,
                                 layer_counts, uniform_densities)
from core.sparse.engine import INITS, DynamicSparsity, make_drop_fraction
from core.sparse.plots import plot_density
from core.sparse.targets import SparseTarget, resolve_target, select_parameters, select_targets

__all__ = [
    "DynamicSparsity", "build_sparsity", "make_drop_fraction", "select_targets", "erk_densities", "uniform_densities",
    "dense_first_last_densities", "layer_counts", "global_density", "prune_and_grow", "plot_density",
    "INITS", "GRANULARITIES", "GROW_CRITERIA", "PRUNE_CRITERIA",
    "select_parameters", "resolve_target", "SparseTarget", "allocate_densities", "topk_random_ties",
    "clip_grad_norm_live", "live_grad_norm",
]
