"""sparselab: core/regularizers -- learned sparsity.

``SoftMasks`` (learnable sigmoid masks through parametrizations, L1 penalty, hardening),
``l1_penalty``, ``mask_distance``, ``mask_density`` and ``MaskStability`` (stop when the hardened mask has
settled: small distance between checks, density no longer moving, a topology formed).
"""
from .build import SoftMaskL1, build_regularizer, make_beta
from .penalties import l1_penalty
from .plots import plot_mask_distance
from .soft_masks import GRANULARITIES, SoftMaskParametrization, SoftMasks
from .stability import MaskStability, mask_density, mask_distance

__all__ = ["SoftMasks", "SoftMaskParametrization", "GRANULARITIES", "l1_penalty", "mask_distance", "mask_density",
           "MaskStability", "plot_mask_distance", "SoftMaskL1", "build_regularizer", "make_beta"]
