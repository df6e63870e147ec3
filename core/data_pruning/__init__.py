"""sparselab: core/data_pruning -- which items train this epoch.

``DataPruner`` picks the kept item ids per epoch (random, loss-based, curriculum, epsilon-greedy,
UCB, InfoBatch), ``PrunedSampler`` feeds them to a stock DataLoader under DDP, ``ItemIndex`` maps
(sample, part) pairs to ids for sub-sample granularity.
"""
from .index import ItemIndex
from .plots import plot_selection_history
from .policies import POLICIES, SCORE_POLICIES, keep_count
from .pruner import DataPruner
from .sampler import PrunedSampler

__all__ = ["POLICIES", "SCORE_POLICIES", "DataPruner", "PrunedSampler", "ItemIndex", "keep_count",
           "plot_selection_history"]
