"""PrunedSampler: a DDP-safe ``torch.utils.data.Sampler`` over the ids a DataPruner keeps.

Every rank asks the (identically scored) pruner for the same kept subset, permutes it with a
generator seeded by ``(seed, epoch)``, pads it by repeating from the start (or truncates with
``drop_last``) to a multiple of ``world_size`` and takes every ``world_size``-th id from position
``rank``: the ranks' shares are disjoint (up to the padding repeats), together complete, and
of equal length, so every rank runs the same number of batches.

Iteration yields the ids from the epoch's index tensor in chunks of ``CHUNK`` (converted to Python ints
one chunk at a time), so no Python list of the whole epoch is ever built.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import Sampler

from core.training.distributed import get_rank, get_world_size
from core.validation import check_nonneg_int, check_positive_int

from .pruner import DataPruner
from .rng import SALT_SAMPLER, make_generator

__all__ = ["PrunedSampler", "CHUNK"]

CHUNK = 8192  # ids converted to Python ints at a time while iterating


class PrunedSampler(Sampler[int]):
    """Yields this rank's item ids for the current epoch; call ``set_epoch(e)`` before each epoch."""

    def __init__(self, pruner: DataPruner, *, rank: int | None = None, world_size: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        super().__init__()
        if not isinstance(pruner, DataPruner):
            raise ValueError(f"pruner must be a DataPruner; got {type(pruner).__name__}")
        self.pruner = pruner
        self.world_size = check_positive_int("world_size", get_world_size() if world_size is None else world_size)
        self.rank = check_nonneg_int("rank", get_rank() if rank is None else rank)
        if self.rank >= self.world_size:
            raise ValueError(f"rank={self.rank} must be in [0, world_size={self.world_size})")
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose subset and order the next iteration yields."""
        self.epoch = check_nonneg_int("epoch", epoch)

    def _per_rank(self, n: int) -> int:
        return n // self.world_size if self.drop_last else math.ceil(n / self.world_size)

    def indices(self, epoch: int | None = None) -> Tensor:
        """(L,) int64 ids this rank visits in ``epoch`` (default: the current epoch), in order."""
        epoch = self.epoch if epoch is None else check_nonneg_int("epoch", epoch)
        kept = self.pruner.select(epoch)  # also makes `epoch` the pruner's current one (loss_weights)
        n, w = kept.numel(), self.world_size
        total = self._per_rank(n) * w
        if w == 1 and total == n:
            pos = None  # all positions, in order
        else:
            pos = torch.arange(self.rank, total, w)
            if total > n:
                pos = pos % n  # padding repeats the (permuted) list from its start
        if self.shuffle:
            # int32 halves the memory traffic of the shuffle (n < 2**31 always holds for item ids here)
            dtype = torch.int32 if n < 2**31 else torch.int64
            perm = torch.randperm(n, generator=make_generator(self.seed, epoch, SALT_SAMPLER), dtype=dtype)
            order = perm if pos is None else torch.index_select(perm, 0, pos)
        else:
            order = pos
        return kept if order is None else torch.index_select(kept, 0, order)

    def __iter__(self) -> Iterator[int]:
        # lazily, chunk by chunk, at C speed (no Python frame per item): chain(tolist(chunk) for chunk in order)
        return itertools.chain.from_iterable(map(torch.Tensor.tolist, torch.split(self.indices(), CHUNK)))

    def __len__(self) -> int:
        return self._per_rank(self.pruner.kept_count(self.epoch))
