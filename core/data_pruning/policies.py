"""Selection policies: which items to keep, as small registered objects over vectorized functions of the scores.

A policy is a frozen dataclass holding its own parameters (``EpsGreedy(epsilon=0.1)``) with one method,
``select(state) -> Selection``; ``@register`` adds it to ``REGISTRY`` under its ``name``. Class attributes say what
the pruner must do for it: ``uses_scores`` (an EMA of losses, a scoring pass over every item before its first pruned
epoch, re-scoring of dropped items), ``tracks_variance`` (UCB's EMA variance), ``needs_num_epochs`` (a curriculum),
``keeps_exactly`` (kept count = ``keep_count(keep, N)``; InfoBatch's follows the scores) and ``default_ema``.
Adding a policy is one class here plus one ``core/configs/pruning/<name>.yaml`` (docs/ARCHITECTURE.md: "how to add").

All functions work on 1-D CPU tensors over the item ids and never loop over items in Python,
so one epoch's selection for 10 million items costs a few tenths of a second.
Every function returns a boolean keep mask ``(N,)``; ties are broken uniformly at random with the
generator passed in, so results are deterministic given the generator's seed.

Conventions shared by the score-based policies
----------------------------------------------
* ``scores`` is the EMA of the observed per-item loss; ``observed`` marks items seen at least once.
* Items never observed take priority in every score-based policy: their score is unknown, so they
  are treated as the hardest items (``+inf`` priority) and get seen before being judged.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from core.validation import check_range

from .rng import SALT_EXPLORE, SALT_INFOBATCH, SALT_SUBSET, SALT_TIES, make_generator

__all__ = ["Policy", "Selection", "SelectionState", "REGISTRY", "register", "policy_names", "get_policy",
           "make_policy", "keep_count", "topk_mask", "random_mask", "random_mask_among", "hard_priority",
           "easy_priority", "ucb_priority", "eps_greedy_mask", "easy_to_hard_mask", "infobatch_masks", "nonzero_ids",
           "rank_window"]


@dataclass(frozen=True)
class SelectionState:
    """What a policy sees when it selects an epoch's items."""

    scores: Tensor              # (N,) float32 EMA loss (0 where never observed)
    observed: Tensor            # (N,) bool
    variance: Tensor | None     # (N,) float32 EMA variance (policies with tracks_variance)
    k: int                      # kept count for policies that keep exactly keep_count(keep, N)
    seed: int
    epoch: int
    progress: float             # 0 at the first pruned epoch, 1 at the last (curricula)

    @property
    def num_items(self) -> int:
        return int(self.scores.numel())

    def generator(self, salt: int, epoch: int | None = None) -> torch.Generator:
        """A generator seeded by (seed, epoch, salt): every draw is reproducible, with no state to checkpoint."""
        return make_generator(self.seed, self.epoch if epoch is None else epoch, salt)


@dataclass(frozen=True)
class Selection:
    mask: Tensor                        # (N,) bool kept items
    low_kept: Tensor | None = None      # (N,) bool: items whose loss weight is ``low_weight`` (InfoBatch)
    low_weight: float = 1.0


@dataclass(frozen=True)
class Policy:
    """Base class: subclasses are frozen dataclasses of their parameters, registered with ``@register``."""

    name: ClassVar[str] = ""
    uses_scores: ClassVar[bool] = False
    tracks_variance: ClassVar[bool] = False
    needs_num_epochs: ClassVar[bool] = False
    keeps_exactly: ClassVar[bool] = True
    default_ema: ClassVar[float] = 0.9

    def select(self, state: SelectionState) -> Selection:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def params(self) -> dict:
        return {n: getattr(self, n) for n in self.param_names()}


REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: ``REGISTRY[cls.name] = cls`` (a name registered twice is an error)."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"policy name {cls.name!r} is empty or already registered")
    REGISTRY[cls.name] = cls
    return cls


def policy_names() -> tuple[str, ...]:
    """Registered policy names, in registration order."""
    return tuple(REGISTRY)


def get_policy(name: str) -> type[Policy]:
    if name not in REGISTRY:
        raise ValueError(f"unknown policy {name!r}; valid choices: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def make_policy(name: str, **params) -> Policy:
    """``make_policy("eps_greedy", epsilon=0.2)``; a parameter the policy does not have is an error naming it."""
    cls = get_policy(name)
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        have = ", ".join(cls.param_names()) or "none"
        raise ValueError(f"policy {name!r} has no parameter(s) {', '.join(unknown)} (its parameters: {have})")
    return cls(**params)


def keep_count(keep: float, num_items: int) -> int:
    """Exact number of kept items: ``round-half-up(keep * num_items)``, at least 1."""
    return max(1, min(num_items, int(math.floor(keep * num_items + 0.5))))


def topk_mask(values: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``(N,) float -> (N,) bool`` with exactly ``k`` True at the ``k`` largest values.

    The threshold is found by introselect (``numpy.partition``, O(N)); items tied at the
    threshold are chosen uniformly at random with ``generator``.
    """
    n = values.numel()
    if k >= n:
        return torch.ones(n, dtype=torch.bool)
    if k <= 0:
        return torch.zeros(n, dtype=torch.bool)
    arr = values.detach().cpu().contiguous().numpy()
    thr = np.partition(arr, n - k)[n - k]  # the k-th largest value
    ge = arr >= thr
    mask = torch.from_numpy(ge)
    extra = int(np.count_nonzero(ge)) - k
    if extra > 0:  # items tied at the threshold: drop `extra` of them at random
        tied = nonzero_ids(torch.from_numpy(arr == thr))
        drop = torch.randperm(tied.numel(), generator=generator)[:extra]
        mask[torch.index_select(tied, 0, drop)] = False
    return mask


def nonzero_ids(mask: Tensor) -> Tensor:
    """``(N,) bool -> (K,) int64`` sorted indices of the True entries (numpy's flatnonzero: ~6x faster)."""
    return torch.from_numpy(np.flatnonzero(mask.cpu().numpy()))


def random_mask(num_items: int, k: int, generator: torch.Generator) -> Tensor:
    """``-> (N,) bool``: a uniformly random subset of exactly ``k`` items (random keys + top-k)."""
    if k >= num_items:
        return torch.ones(num_items, dtype=torch.bool)
    keys = torch.rand(num_items, generator=generator)
    return topk_mask(keys, k, generator)


def random_mask_among(candidates: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``(N,) bool -> (N,) bool``: exactly ``k`` items chosen uniformly at random among the True ones.

    Works in the full index space to avoid gathers: candidates get random keys in [1, 2), the
    others distinct keys in [0, 1) (a constant would create massive ties that slow introselect).
    """
    n_cand = int(torch.count_nonzero(candidates))
    if k <= 0 or n_cand == 0:
        return torch.zeros_like(candidates)
    if k >= n_cand:
        return candidates.clone()
    keys = torch.rand(candidates.numel(), generator=generator)
    keys.add_(candidates)  # candidates in [1, 2), the others in [0, 1): k <= n_cand keeps them out
    return topk_mask(keys, k, generator)


def _unobserved_first(priority: Tensor, observed: Tensor, *, inplace: bool) -> Tensor:
    """Priority of never-observed items set to +inf (skipped when all were observed)."""
    if int(torch.count_nonzero(observed)) == observed.numel():
        return priority
    if inplace:
        return priority.masked_fill_(~observed, math.inf)
    return priority.masked_fill(~observed, math.inf)


def hard_priority(scores: Tensor, observed: Tensor) -> Tensor:
    """``(N,), (N,) -> (N,)``: higher = keep first; hardest (largest score) first, unobserved = +inf.

    May return ``scores`` itself (read-only use)."""
    return _unobserved_first(scores, observed, inplace=False)


def easy_priority(scores: Tensor, observed: Tensor) -> Tensor:
    """``(N,), (N,) -> (N,)``: easiest (smallest score) first, unobserved = +inf."""
    return _unobserved_first(scores.neg(), observed, inplace=True)


def ucb_priority(scores: Tensor, variance: Tensor, observed: Tensor, c: float) -> Tensor:
    """``(N,) x3 -> (N,)``: Raju et al. (2021) UCB = EMA mean loss + c * EMA std; unobserved = +inf."""
    ucb = variance.clamp_min(0).sqrt_().mul_(c).add_(scores)
    return _unobserved_first(ucb, observed, inplace=True)


def eps_greedy_mask(priority: Tensor, k: int, epsilon: float, generator: torch.Generator) -> Tensor:
    """``(N,) -> (N,) bool``: Raju et al. (2021) epsilon-greedy.

    ``round-half-up(k * (1 - epsilon))`` items are taken greedily by priority, the rest of the
    budget uniformly at random from the remaining items.
    """
    n_greedy = int(math.floor(k * (1.0 - epsilon) + 0.5))
    greedy = topk_mask(priority, n_greedy, generator)
    explore = random_mask_among(~greedy, k - n_greedy, generator)
    return greedy | explore


def _random_subset(ids: np.ndarray, count: int, generator: torch.Generator) -> np.ndarray:
    """``count`` entries of ``ids`` chosen uniformly at random (``(T,) -> (count,)``)."""
    if count >= ids.size:
        return ids
    pick = torch.randperm(ids.size, generator=generator)[:count].numpy()
    return ids[pick]


def rank_window(values: np.ndarray, start: int, stop: int, generator: torch.Generator) -> np.ndarray:
    """``(M,) -> (M,) bool``: the items whose rank is in ``[start, stop)`` when sorted ascending, ties in
    uniformly random order.

    O(M): one ``numpy.partition`` (introselect) for the two boundary values, then comparisons; only the
    items tied with a boundary value are drawn at random (exactly as many as the window needs).
    """
    m = values.size
    if start <= 0 and stop >= m:
        return np.ones(m, dtype=bool)
    if stop <= start:
        return np.zeros(m, dtype=bool)
    part = np.partition(values, sorted({start, stop - 1}))
    lo, hi = part[start], part[stop - 1]
    out = (values > lo) & (values < hi)
    tied_lo = np.flatnonzero(values == lo)
    below_lo = int(np.count_nonzero(values < lo))
    if lo == hi:  # the whole window lies inside one tie group
        out[_random_subset(tied_lo, stop - start, generator)] = True
        return out
    out[_random_subset(tied_lo, below_lo + tied_lo.size - start, generator)] = True
    tied_hi = np.flatnonzero(values == hi)
    below_hi = int(np.count_nonzero(values < hi))
    out[_random_subset(tied_hi, stop - below_hi, generator)] = True
    return out


def easy_to_hard_mask(scores: Tensor, observed: Tensor, k: int, progress: float,
                      generator: torch.Generator) -> Tensor:
    """``(N,), (N,) -> (N,) bool``: curriculum window sliding from easiest to hardest.

    Unobserved items are kept first (they have no score yet). The remaining budget ``k'`` is a
    window over the observed items sorted by score ascending (ties in random order), starting at
    rank ``round((n_observed - k') * progress)``: ``progress=0`` keeps the ``k'`` easiest,
    ``progress=1`` the ``k'`` hardest. O(N): the window is found by selection (``rank_window``), not a sort.
    """
    n = scores.numel()
    unobs = ~observed
    n_unobs = int(torch.count_nonzero(unobs))
    if n_unobs >= k:
        return random_mask_among(unobs, k, generator)
    k_rest = k - n_unobs
    arr = scores.detach().cpu().contiguous().numpy()
    obs_idx = None if n_unobs == 0 else np.flatnonzero(observed.cpu().numpy())
    vals = arr if obs_idx is None else arr[obs_idx]
    start = int(math.floor((vals.size - k_rest) * min(max(progress, 0.0), 1.0) + 0.5))
    win = rank_window(vals, start, start + k_rest, generator)
    if obs_idx is None:
        mask = torch.from_numpy(win)
    else:
        mask = unobs.clone()
        mask[torch.from_numpy(obs_idx[win])] = True
    assert int(torch.count_nonzero(mask)) == k <= n
    return mask


def infobatch_masks(scores: Tensor, observed: Tensor, ratio: float,
                    generator: torch.Generator) -> tuple[Tensor, Tensor, float]:
    """``(N,), (N,) -> (keep (N,) bool, low_kept (N,) bool, weight)``: InfoBatch (Qin et al., ICLR 2024).

    Observed items whose score is below the mean observed score are "well learned". Exactly
    ``d = round-half-up(ratio * n_low)`` of them, chosen uniformly at random, are dropped; the
    kept low-score items get loss weight ``n_low / (n_low - d)`` (= ``1 / (1 - ratio)`` up to the
    rounding of ``d``), the inverse of their inclusion probability, which makes
    ``sum(w_i * l_i over kept) / N`` an exactly unbiased estimate of the full-data mean loss.
    Unobserved items are never dropped.
    """
    n = scores.numel()
    if not bool(observed.any()):
        return torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool), 1.0
    n_obs = int(torch.count_nonzero(observed))
    if n_obs == n:
        mean = scores.mean()
    else:
        mean = torch.where(observed, scores, torch.zeros_like(scores)).sum() / n_obs
    low = scores < mean
    if n_obs < n:
        low &= observed
    n_low = int(torch.count_nonzero(low))
    n_drop = int(math.floor(ratio * n_low + 0.5))
    if n_low == 0 or n_drop == 0:
        return torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool), 1.0
    if n_drop >= n_low:  # ratio < 1 but rounding can reach n_low for tiny n_low; keep one
        n_drop = n_low - 1
    dropped = random_mask_among(low, n_drop, generator)
    keep = ~dropped
    low_kept = low & keep
    weight = n_low / (n_low - n_drop)
    return keep, low_kept, weight


# ---------------------------------------------------------------------------------------------------- the policies

@register
@dataclass(frozen=True)
class Full(Policy):
    """Every item, every epoch."""

    name: ClassVar[str] = "full"

    def select(self, state: SelectionState) -> Selection:
        return Selection(torch.ones(state.num_items, dtype=torch.bool))


@register
@dataclass(frozen=True)
class StaticRandom(Policy):
    """One seeded random subset for all epochs."""

    name: ClassVar[str] = "static_random"

    def select(self, state: SelectionState) -> Selection:
        return Selection(random_mask(state.num_items, state.k, state.generator(SALT_SUBSET, epoch=0)))


@register
@dataclass(frozen=True)
class DynamicRandom(Policy):
    """A new seeded random subset each epoch."""

    name: ClassVar[str] = "dynamic_random"

    def select(self, state: SelectionState) -> Selection:
        return Selection(random_mask(state.num_items, state.k, state.generator(SALT_SUBSET)))


@register
@dataclass(frozen=True)
class LossHard(Policy):
    """The ``k`` items with the highest EMA loss."""

    name: ClassVar[str] = "loss_hard"
    uses_scores: ClassVar[bool] = True

    def select(self, state: SelectionState) -> Selection:
        return Selection(topk_mask(hard_priority(state.scores, state.observed), state.k, state.generator(SALT_TIES)))


@register
@dataclass(frozen=True)
class LossEasy(Policy):
    """The ``k`` items with the lowest EMA loss."""

    name: ClassVar[str] = "loss_easy"
    uses_scores: ClassVar[bool] = True

    def select(self, state: SelectionState) -> Selection:
        return Selection(topk_mask(easy_priority(state.scores, state.observed), state.k, state.generator(SALT_TIES)))


@register
@dataclass(frozen=True)
class EasyToHard(Policy):
    """Curriculum: a ``k``-item window over items ranked by EMA loss slides from easiest to hardest."""

    name: ClassVar[str] = "easy_to_hard"
    uses_scores: ClassVar[bool] = True
    needs_num_epochs: ClassVar[bool] = True

    def select(self, state: SelectionState) -> Selection:
        return Selection(easy_to_hard_mask(state.scores, state.observed, state.k, state.progress,
                                           state.generator(SALT_TIES)))


@register
@dataclass(frozen=True)
class EpsGreedy(Policy):
    """Raju et al. (2021): ``(1 - epsilon)`` of the budget by highest EMA loss, ``epsilon`` at random."""

    name: ClassVar[str] = "eps_greedy"
    uses_scores: ClassVar[bool] = True
    epsilon: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_range("epsilon", self.epsilon, 0.0, 1.0))

    def select(self, state: SelectionState) -> Selection:
        return Selection(eps_greedy_mask(hard_priority(state.scores, state.observed), state.k, self.epsilon,
                                         state.generator(SALT_EXPLORE)))


@register
@dataclass(frozen=True)
class UCB(Policy):
    """Raju et al. (2021): highest EMA loss + ``ucb_c`` x EMA standard deviation."""

    name: ClassVar[str] = "ucb"
    uses_scores: ClassVar[bool] = True
    tracks_variance: ClassVar[bool] = True
    ucb_c: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "ucb_c", check_range("ucb_c", self.ucb_c, 0.0, math.inf))

    def select(self, state: SelectionState) -> Selection:
        pri = ucb_priority(state.scores, state.variance, state.observed, self.ucb_c)
        return Selection(topk_mask(pri, state.k, state.generator(SALT_TIES)))


@register
@dataclass(frozen=True)
class InfoBatch(Policy):
    """Qin et al. (ICLR 2024): drop ``infobatch_ratio`` of the below-mean-score items at random and up-weight the
    kept ones; the kept count follows the scores (``keep`` must be 1). Score = latest loss (``default_ema`` 0)."""

    name: ClassVar[str] = "infobatch"
    uses_scores: ClassVar[bool] = True
    keeps_exactly: ClassVar[bool] = False
    default_ema: ClassVar[float] = 0.0
    infobatch_ratio: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "infobatch_ratio",
                           check_range("infobatch_ratio", self.infobatch_ratio, 0.0, 1.0, high_open=True))

    def select(self, state: SelectionState) -> Selection:
        mask, low_kept, w = infobatch_masks(state.scores, state.observed, self.infobatch_ratio,
                                            state.generator(SALT_INFOBATCH))
        return Selection(mask, low_kept, w)
