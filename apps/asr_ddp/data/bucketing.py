"""Duration-bucketed batches built globally over the kept items, then split evenly across DDP ranks."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["bucket_batches", "split_batches", "BucketBatchSampler"]


def bucket_batches(ids: Sequence[int], lengths: Sequence[int], frame_budget: int, *, max_batch: int = 256,
                   bucket_size: int = 64, seed: int = 0, epoch: int = 0, shuffle: bool = True) -> list[list[int]]:
    """Group item ``ids`` (with per-item ``lengths`` in frames, indexed by id) into batches of similar length.

    Items are sorted by length (ties and small groups shuffled by a (seed, epoch) generator), cut into
    batches whose padded size ``max_len * count`` stays within ``frame_budget`` (a single longer item
    gets a batch of its own), and the batch order is shuffled. Deterministic in (ids, lengths, seed, epoch).
    """
    if frame_budget <= 0 or max_batch <= 0:
        raise ValueError(f"frame_budget={frame_budget} and max_batch={max_batch} must be positive")
    ids_t = torch.as_tensor(list(ids), dtype=torch.long)
    if ids_t.numel() == 0:
        return []
    lens = torch.as_tensor(lengths, dtype=torch.long)[ids_t]
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    if shuffle:                                   # random order, then stable sort by (length // bucket) buckets
        perm = torch.randperm(ids_t.numel(), generator=g)
        ids_t, lens = ids_t[perm], lens[perm]
        key = lens // max(1, bucket_size // 8) if bucket_size else lens
        order = torch.sort(key, stable=True).indices
    else:
        order = torch.sort(lens, stable=True).indices
    ids_t, lens = ids_t[order].tolist(), lens[order].tolist()
    batches: list[list[int]] = []
    cur: list[int] = []
    cur_max = 0
    for i, n in zip(ids_t, lens):
        new_max = max(cur_max, n)
        if cur and (new_max * (len(cur) + 1) > frame_budget or len(cur) >= max_batch):
            batches.append(cur)
            cur, new_max = [], n
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(cur)
    if shuffle:
        perm = torch.randperm(len(batches), generator=g).tolist()
        batches = [batches[p] for p in perm]
    return batches


def split_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """Rank ``rank``'s share: every rank gets ``ceil(len / world_size)`` batches (the list is padded by
    repeating its first batches, as DistributedSampler does), rank r takes batches r, r+W, r+2W, ..."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
    if not batches:
        return []
    per_rank = -(-len(batches) // world_size)
    padded = batches + [batches[i % len(batches)] for i in range(per_rank * world_size - len(batches))]
    return padded[rank::world_size]


class BucketBatchSampler(Sampler[list[int]]):
    """Batch sampler over the items a ``DataPruner`` keeps in the current epoch (``set_epoch(e)``).

    Usable as ``DataLoader(ds, batch_sampler=...)``. Same global batch plan on every rank; each rank
    iterates its equal-sized share.
    """

    def __init__(self, pruner, lengths: Sequence[int], frame_budget: int, *, rank: int = 0, world_size: int = 1,
                 max_batch: int = 256, seed: int = 0) -> None:
        self.pruner, self.lengths = pruner, list(lengths)
        if len(self.lengths) != pruner.num_items:
            raise ValueError(f"{len(self.lengths)} lengths for a pruner over {pruner.num_items} items")
        self.frame_budget, self.max_batch, self.seed = frame_budget, max_batch, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def global_batches(self) -> list[list[int]]:
        kept = self.pruner.select(self.epoch).tolist()
        return bucket_batches(kept, self.lengths, self.frame_budget, max_batch=self.max_batch, seed=self.seed,
                              epoch=self.epoch)

    def rank_batches(self) -> list[list[int]]:
        return split_batches(self.global_batches(), self.rank, self.world_size)

    def __iter__(self):
        return iter(self.rank_batches())

    def __len__(self) -> int:
        return len(self.rank_batches())
