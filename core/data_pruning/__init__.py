"""sparselab: core/data_pruning -- which items train this epoch.

``DataPruner`` picks the kept item ids per epoch (random, loss-based, curriculum, epsilon-greedy,
UCB, InfoBatch), ``PrunedSampler`` feeds them to a stock DataLoader under DDP, ``ItemIndex`` maps
(sample, part) pairs to ids for sub-sample granularity.
"""
from .index import ItemIndex
from .plots import plot_selection_history
from .policies import REGISTRY, Policy, Selection, SelectionState, keep_count, make_policy, policy_names, register
from .pruner import DataPruner, ScoreRequest
from .settings import PrunerSettings
from .sampler import PrunedSampler

__all__ = ["DataPruner", "ScoreRequest", "PrunerSettings", "Policy", "Selection", "SelectionState", "REGISTRY", "register",
           "policy_names", "make_policy", "PrunedSampler", "ItemIndex", "keep_count", "plot_selection_history"]
