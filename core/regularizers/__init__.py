"""sparselab: core/regularizers -- learned sparsity.

``SoftMasks`` (learnable sigmoid masks through parametrizations: bounded logits, a gradient gate, a scale-free
L1 as a soft count of kept weights, hardening by a global threshold or per-layer budgets), ``SoftMaskL1`` (the
bundle the shared loop's ``regularizer=`` slot runs: price, start after learning, temperature schedule, global
or ERK allocation, stability), ``build_regularizer`` (its plain-keyword factory), ``soft_count``,
``mask_distance``, ``mask_density`` and ``MaskStability`` (stop when the hardened mask has settled: small
distance between checks, density no longer moving, a topology formed).
"""
from .build import build_regularizer
from .penalties import soft_count
from .plots import plot_mask_distance
from .regularizer import ALLOCATIONS, SoftMaskL1
from .soft_masks import GRANULARITIES, SoftMaskParametrization, SoftMasks
from .stability import MaskStability, mask_density, mask_distance

__all__ = ["SoftMasks", "SoftMaskParametrization", "GRANULARITIES", "soft_count", "mask_distance", "mask_density",
           "MaskStability", "plot_mask_distance", "SoftMaskL1", "ALLOCATIONS", "build_regularizer"]
