"""DataPruner: which item ids train in a given epoch, from running per-item loss scores.

Phases (per epoch ``e``), the same for every policy (so that every row of a comparison gets the same schedule)
-------------------------------------------------------------------------------------------------------------
* policy ``"full"``: every item, weight 1.
* warm-up: full data while ``e < warmup_epochs`` (every policy; score policies learn their first scores there).
* annealing: full data, weights 1, from epoch ``anneal_start = floor((1 - anneal) * num_epochs)`` on (0-based).
  This is the official InfoBatch sampler's boundary: with ``delta = 1 - anneal`` it prunes while
  ``e + 1 <= delta * num_epochs`` (its epoch counter starts at 1), e.g. ``num_epochs=100, anneal=0.125``:
  full data from epoch 87.
* otherwise the policy (``core.data_pruning.policies``: a registered object) picks exactly
  ``keep_count(keep, N) = round-half-up(keep * N)`` (>= 1) items, except InfoBatch, whose kept count follows the
  scores (its ``keep`` must be 1).

Scores
------
``observe(ids, losses)`` updates an exponential moving average per item,
``s <- ema * s + (1 - ema) * loss`` (the first observation sets ``s = loss``), and for UCB an EMA
variance ``v <- ema * (v + (1 - ema) * (loss - s_old)^2)``. ``ema=None`` (the default) takes the
policy's ``default_ema``: 0 for InfoBatch, whose official code sets each item's score to its
latest loss, and 0.9 for the other score-based policies. Repeated ids inside one call are
averaged first. ``observe(..., replace=True)`` restarts the items' scores from these losses (variance 0).
Under ``torch.distributed`` the ids and losses of every rank are all-gathered
before the update, so every rank holds the same scores and so makes the same selection; ``observe``
is then a collective: call it on every rank the same number of times (a rank with no items passes
empty tensors), and select the next epoch on every rank after the same observations.

Scoring passes (score policies): what the trainer should score before ``select(e)``
-------------------------------------------------------------------------------------
Losses taken while training in the warm-up epoch say mostly *when* an item was seen (the loss falls fast early on),
not how hard it is. ``score_request(e)`` tells the trainer which items to score with one forward pass (no gradient,
the same mode as the training losses) before the epoch is selected:

* the first pruned epoch after a warm-up (``score_pass``): every item, ``replace=True`` -- all scores then come
  from one model state, so the position of an item in the warm-up epoch no longer decides its selection;
* later pruned epochs, every ``rescore_every`` epochs: a seeded ``rescore_fraction`` sample of the items the
  previous epoch dropped (their stale scores would otherwise never change), ``replace=False``.

Determinism
-----------
All randomness comes from generators seeded by ``(seed, epoch, purpose)`` (see ``rng.py``), so a
selection depends only on the seed, the epoch and the scores at the time of the first
``select(epoch)`` call; it is then cached, so later ``observe`` calls do not change the running
epoch's subset. The ``cache_epochs`` most recent selections are kept (and saved in ``state_dict``);
the most recently *selected* epoch (``select(e)``, which the sampler calls) is never evicted, and
``loss_weights(ids)`` without an epoch uses it (``keep_fraction`` and ``loss_weights(ids, e)`` do not change it).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from core.validation import check_fraction, check_nonneg_int, check_positive_int, check_range

from .policies import Policy, SelectionState, get_policy, keep_count, make_policy, nonzero_ids
from .rng import SALT_RESCORE, make_generator

__all__ = ["DataPruner", "ScoreRequest", "default_ema"]

_STATE_VERSION = 2


def default_ema(policy: str) -> float:
    """Score smoothing a policy uses when ``ema=None`` (its class' ``default_ema``)."""
    return get_policy(policy).default_ema


@dataclass
class _Selection:
    ids: Tensor                 # (K,) int64, sorted
    low_kept: Tensor | None     # (N,) bool: InfoBatch low-score items kept this epoch (weight != 1)
    low_weight: float           # loss weight of those items


@dataclass(frozen=True)
class ScoreRequest:
    """Items to score (one forward pass, no gradient, training mode) before ``select(epoch)``."""

    epoch: int
    ids: Tensor                 # (M,) int64, sorted
    replace: bool               # True: the losses restart the items' scores (the full pass after the warm-up)
    reason: str                 # "score_pass" | "rescore"


class DataPruner:
    """Chooses the item ids that train in each epoch (see module docstring for the rules).

    ``policy``: a registered name (``"eps_greedy"``; its parameters as keywords: ``epsilon=0.2``) or a
    ``Policy`` object (``EpsGreedy(epsilon=0.2)``).
    """

    def __init__(self, num_items: int, keep: float, policy: str | Policy = "dynamic_random", *,
                 num_epochs: int | None = None, anneal: float = 0.0, warmup_epochs: int = 0, seed: int = 0,
                 ema: float | None = None, score_pass: bool = True, rescore_every: int = 0,
                 rescore_fraction: float = 0.0, cache_epochs: int = 2, **policy_params) -> None:
        self.num_items = check_positive_int("num_items", num_items)
        self.keep = check_fraction("keep", keep)
        if isinstance(policy, Policy):
            if policy_params:
                raise ValueError(f"policy is a {type(policy).__name__} object; give its parameters to it, not "
                                 f"{sorted(policy_params)}")
            self.rule = policy
        else:
            self.rule = make_policy(str(policy), **policy_params)
        self.policy = self.rule.name      # policies that decide their own count (full, InfoBatch) do not use keep
        self.anneal = check_range("anneal", anneal, 0.0, 1.0, high_open=True)
        if num_epochs is not None:
            num_epochs = check_positive_int("num_epochs", num_epochs)
        elif self.anneal > 0:
            raise ValueError(f"num_epochs=None but anneal={anneal!r} > 0 needs the number of epochs")
        elif self.rule.needs_num_epochs:
            raise ValueError(f"num_epochs=None but policy {self.policy!r} needs the number of epochs to slide its window")
        self.num_epochs = num_epochs
        self.seed = int(seed)
        self.ema = check_range("ema", self.rule.default_ema if ema is None else ema, 0.0, 1.0, high_open=True)
        self.warmup_epochs = check_nonneg_int("warmup_epochs", warmup_epochs)
        if not isinstance(score_pass, bool):
            raise ValueError(f"score_pass={score_pass!r} must be true or false")
        self.score_pass = score_pass
        self.rescore_every = check_nonneg_int("rescore_every", rescore_every)
        self.rescore_fraction = check_range("rescore_fraction", rescore_fraction, 0.0, 1.0)
        self.cache_epochs = check_positive_int("cache_epochs", cache_epochs)
        n = self.num_items
        self._scores = torch.zeros(n, dtype=torch.float32)
        self._counts = torch.zeros(n, dtype=torch.int32)
        self._var = torch.zeros(n, dtype=torch.float32) if self.rule.tracks_variance else None
        self._cache: OrderedDict[int, _Selection] = OrderedDict()
        self._current: int | None = None  # most recently selected epoch (select())
        self.history: list[dict] = []  # one entry per selected epoch: epoch, kept, fraction, phase

    # ------------------------------------------------------------------ properties
    @property
    def uses_scores(self) -> bool:
        """Whether the policy selects by loss scores (and so wants scoring passes)."""
        return self.rule.uses_scores

    @property
    def scores(self) -> Tensor:
        """(N,) float32 EMA loss per item (0 where never observed; see ``observed``)."""
        return self._scores

    @property
    def variance(self) -> Tensor | None:
        """(N,) float32 EMA variance of the loss per item (policies that track it, e.g. UCB), else None."""
        return self._var

    @property
    def counts(self) -> Tensor:
        """(N,) int32 number of losses observed per item."""
        return self._counts

    @property
    def observed(self) -> Tensor:
        """(N,) bool: items with at least one observed loss."""
        return self._counts > 0

    @property
    def anneal_start(self) -> int | None:
        """First epoch of the full-data annealing phase, or None without annealing."""
        if self.anneal <= 0 or self.num_epochs is None:
            return None
        return int(math.floor((1.0 - self.anneal) * self.num_epochs + 1e-9))

    @property
    def num_keep(self) -> int:
        """Exact kept count in a pruned epoch (not InfoBatch): round-half-up(keep * num_items)."""
        return keep_count(self.keep, self.num_items)

    def phase(self, epoch: int) -> str:
        """"full" (policy full or annealing), "warmup" or "pruned"."""
        epoch = check_nonneg_int("epoch", epoch)
        if self.policy == "full":
            return "full"
        start = self.anneal_start
        if start is not None and epoch >= start:
            return "full"
        if epoch < self.warmup_epochs:
            return "warmup"
        return "pruned"

    # ------------------------------------------------------------------ scoring passes
    def score_request(self, epoch: int) -> ScoreRequest | None:
        """What to score before ``select(epoch)`` (module docstring), or None. Call it once per epoch, before the
        epoch is selected; the answer depends only on the epoch, the seed and the previous epoch's selection."""
        epoch = check_nonneg_int("epoch", epoch)
        if not self.uses_scores or self.phase(epoch) != "pruned" or epoch in self._cache:
            return None
        if epoch > 0 and epoch == self.warmup_epochs and self.score_pass:
            return ScoreRequest(epoch, torch.arange(self.num_items), True, "score_pass")
        if not (self.rescore_every and self.rescore_fraction > 0 and epoch % self.rescore_every == 0):
            return None
        prev = self._cache.get(epoch - 1)
        if prev is None:
            return None
        kept = torch.zeros(self.num_items, dtype=torch.bool)
        kept[prev.ids] = True
        dropped = nonzero_ids(~kept)
        k = int(round(self.rescore_fraction * dropped.numel()))
        if k == 0:
            return None
        pick = torch.randperm(dropped.numel(), generator=make_generator(self.seed, epoch, SALT_RESCORE))[:k]
        return ScoreRequest(epoch, torch.sort(dropped[pick]).values, False, "rescore")
    def counterfactual(self, epoch: int, scores: Tensor) -> Tensor:
        """The ids the policy would keep in ``epoch`` with these ``scores`` instead of its own (every item counted as
        observed; no state changes, no draw from a global RNG): for measuring what a scoring pass changed."""
        st = SelectionState(scores=scores.float(), observed=torch.ones(self.num_items, dtype=torch.bool),
                            variance=None if self._var is None else torch.zeros_like(self._var), k=self.num_keep,
                            seed=self.seed, epoch=int(epoch), progress=self._curriculum_progress(epoch))
        return nonzero_ids(self.rule.select(st).mask)

    # ------------------------------------------------------------------ scores
    def observe(self, item_ids, losses, *, replace: bool = False) -> None:
        """Update the running scores with per-item losses.

        ``item_ids``: (B,) ints in [0, num_items); ``losses``: (B,) finite floats (one scalar per item,
        length-normalised by the caller). All-gathered over ranks when torch.distributed is initialised.
        ``replace=True``: the items' scores restart from these losses (as a first observation: variance 0).
        """
        ids = torch.as_tensor(item_ids).detach().cpu()
        vals = torch.as_tensor(losses).detach().cpu()
        if ids.dim() != 1 or vals.dim() != 1 or ids.shape != vals.shape:
            raise ValueError(f"observe needs 1-D item_ids and losses of the same length; got item_ids shape "
                             f"{tuple(ids.shape)} and losses shape {tuple(vals.shape)}")
        if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.is_complex():
            raise ValueError(f"item_ids must be integers; got dtype {ids.dtype}")
        ids = ids.long()
        vals = vals.float()
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= self.num_items:
                bad = lo if lo < 0 else hi
                raise ValueError(f"item id {bad} out of range [0, {self.num_items})")
            if not bool(torch.isfinite(vals).all()):
                bad = vals[~torch.isfinite(vals)][0].item()
                raise ValueError(f"losses must be finite; got {bad}")
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            from core.training.distributed import all_gather_cat

            ids = all_gather_cat(ids)
            vals = all_gather_cat(vals)
        if ids.numel() == 0:
            return
        if ids.numel() * 8 >= self.num_items:  # big batch (e.g. a whole epoch): O(N) counting, no sort
            cnt_all = torch.bincount(ids, minlength=self.num_items)
            sum_all = torch.zeros(self.num_items, dtype=torch.float32).index_add_(0, ids, vals)
            uniq = nonzero_ids(cnt_all > 0)
            cnt = cnt_all[uniq]
            mean = sum_all[uniq] / cnt
        else:
            uniq, inv = torch.unique(ids, return_inverse=True)
            cnt = torch.bincount(inv, minlength=uniq.numel())
            mean = torch.zeros(uniq.numel(), dtype=torch.float32).index_add_(0, inv, vals) / cnt
        old = self._scores[uniq]
        first = self._counts[uniq] == 0
        if replace:
            first = torch.ones_like(first)
            self._counts[uniq] = 0
        a = self.ema
        new = torch.where(first, mean, a * old + (1 - a) * mean)
        if self._var is not None:
            d = mean - old
            var_new = torch.where(first, torch.zeros_like(mean), a * (self._var[uniq] + (1 - a) * d * d))
            self._var[uniq] = var_new
        self._scores[uniq] = new
        self._counts[uniq] += cnt.to(torch.int32)

    # ------------------------------------------------------------------ selection
    def select(self, epoch: int) -> Tensor:
        """(K,) int64 kept item ids for ``epoch``, sorted; cached per epoch (do not modify in place).

        Makes ``epoch`` the current one: ``loss_weights(ids)`` without an epoch follows it."""
        sel = self._selection(epoch)
        self._current = int(epoch)
        return sel.ids

    @property
    def current_epoch(self) -> int | None:
        """The most recently selected epoch (``select``), or None before the first selection."""
        return self._current

    def keep_fraction(self, epoch: int) -> float:
        """Fraction of items kept in ``epoch`` (computes its selection if needed; the current epoch stays)."""
        return self.kept_count(epoch) / self.num_items

    def kept_count(self, epoch: int) -> int:
        """Number of items kept in ``epoch`` (computes its selection if needed; the current epoch stays)."""
        return int(self._selection(epoch).ids.numel())

    def loss_weights(self, item_ids, epoch: int | None = None) -> Tensor:
        """(B,) ids -> (B,) float32 loss weights on the ids' device: InfoBatch's rescale for kept low-score items, else 1.

        ``epoch`` defaults to the most recently selected epoch (``select``; 1 everywhere if none was selected).
        """
        ids_in = torch.as_tensor(item_ids)
        ids = ids_in.long().cpu()
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_items):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise ValueError(f"item id {bad} out of range [0, {self.num_items})")
        if epoch is None:
            if self._current is None:
                return torch.ones(ids.shape, dtype=torch.float32, device=ids_in.device)
            epoch = self._current
        sel = self._selection(epoch)
        w = torch.ones(ids.shape, dtype=torch.float32)
        if sel.low_kept is not None:
            w[sel.low_kept[ids]] = sel.low_weight
        return w.to(ids_in.device)

    def _selection(self, epoch: int) -> _Selection:
        epoch = check_nonneg_int("epoch", epoch)
        if epoch in self._cache:
            self._cache.move_to_end(epoch)
            return self._cache[epoch]
        phase = self.phase(epoch)
        sel = self._compute(epoch, phase)
        self._cache[epoch] = sel
        while len(self._cache) > self.cache_epochs:  # least recently used first; the current epoch stays
            victims = [e for e in self._cache if e not in (self._current, epoch)]
            if not victims:
                break
            del self._cache[victims[0]]
        self.history.append(dict(epoch=epoch, kept=int(sel.ids.numel()),
                                 fraction=sel.ids.numel() / self.num_items, phase=phase))
        return sel

    def _compute(self, epoch: int, phase: str) -> _Selection:
        if phase in ("full", "warmup"):
            return _Selection(torch.arange(self.num_items), None, 1.0)
        st = SelectionState(scores=self._scores, observed=self.observed, variance=self._var, k=self.num_keep,
                            seed=self.seed, epoch=int(epoch), progress=self._curriculum_progress(epoch))
        sel = self.rule.select(st)
        return _Selection(nonzero_ids(sel.mask), sel.low_kept, float(sel.low_weight))

    def _curriculum_progress(self, epoch: int) -> float:
        """0 at the first pruned epoch, 1 at the last pruned epoch (linear in between; 0 without num_epochs)."""
        if self.num_epochs is None:
            return 0.0
        last = (self.anneal_start if self.anneal_start is not None else self.num_epochs) - 1
        first = min(self.warmup_epochs, last)
        if last <= first:
            return 1.0
        return min(max((epoch - first) / (last - first), 0.0), 1.0)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Scores, counts, variance, cached selections (as bool masks) and history.

        No RNG state is needed: every draw is seeded from (seed, epoch, purpose).
        """
        cache = {}
        for e, sel in self._cache.items():
            mask = torch.zeros(self.num_items, dtype=torch.bool)
            mask[sel.ids] = True
            cache[int(e)] = dict(mask=mask, low_kept=None if sel.low_kept is None else sel.low_kept.clone(),
                                 low_weight=float(sel.low_weight))
        return dict(version=_STATE_VERSION, num_items=self.num_items, policy=self.policy, seed=self.seed,
                    params=self.rule.params(),
                    scores=self._scores.clone(), counts=self._counts.clone(),
                    var=None if self._var is None else self._var.clone(),
                    cache=cache, history=[dict(h) for h in self.history], current=self._current)

    def load_state_dict(self, state: dict) -> None:
        missing = [k for k in ("num_items", "policy", "seed", "scores", "counts", "cache") if k not in state]
        if missing:
            raise ValueError(f"pruner state is missing keys {missing}")
        for key in ("num_items", "policy", "seed"):
            if state[key] != getattr(self, key):
                raise ValueError(f"pruner state has {key}={state[key]!r} but this pruner has "
                                 f"{key}={getattr(self, key)!r}")
        self._scores = state["scores"].clone().float()
        self._counts = state["counts"].clone().to(torch.int32)
        if self._var is not None:
            var = state.get("var")
            self._var = var.clone().float() if var is not None else torch.zeros_like(self._scores)
        self._cache = OrderedDict()
        for e in state["cache"]:  # saved in least- to most-recently used order
            c = state["cache"][e]
            self._cache[int(e)] = _Selection(nonzero_ids(c["mask"]),
                                             None if c["low_kept"] is None else c["low_kept"].clone(),
                                             float(c["low_weight"]))
        self.history = [dict(h) for h in state.get("history", [])]
        cur = state.get("current", next(reversed(self._cache), None))  # older states: the most recent cache entry
        self._current = None if cur is None else int(cur)

    def __repr__(self) -> str:
        return (f"DataPruner(num_items={self.num_items}, keep={self.keep}, policy={self.rule!r}, "
                f"num_epochs={self.num_epochs}, warmup_epochs={self.warmup_epochs}, anneal={self.anneal}, "
                f"seed={self.seed})")
