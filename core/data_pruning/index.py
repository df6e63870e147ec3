"""ItemIndex: (sample, part) <-> item id, for pruning finer than a whole sample.

Sample ``s`` owns the contiguous ids ``[offset[s], offset[s] + parts[s])`` with
``offset = cumsum(parts)`` shifted by one, so an app can prune utterance segments or volume
patches with the same DataPruner. Samples with zero parts are allowed (they own no ids).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["ItemIndex"]


class ItemIndex:
    """Maps (sample, part) pairs to dense item ids and back, vectorized."""

    def __init__(self, parts_per_sample: Sequence[int] | Tensor) -> None:
        parts = torch.as_tensor(parts_per_sample)
        if parts.dim() != 1 or parts.numel() == 0:
            raise ValueError(f"parts_per_sample must be a non-empty 1-D sequence; got shape {tuple(parts.shape)}")
        if parts.dtype.is_floating_point or parts.dtype == torch.bool:
            raise ValueError(f"parts_per_sample must hold integers; got dtype {parts.dtype}")
        parts = parts.long()
        if bool((parts < 0).any()):
            bad = int(parts[parts < 0][0])
            raise ValueError(f"parts_per_sample must be >= 0; got {bad}")
        self.parts = parts
        self.offsets = torch.zeros(parts.numel() + 1, dtype=torch.long)
        torch.cumsum(parts, 0, out=self.offsets[1:])
        if int(self.offsets[-1]) == 0:
            raise ValueError("parts_per_sample sums to 0: the index would hold no items")

    @property
    def num_items(self) -> int:
        return int(self.offsets[-1])

    @property
    def num_samples(self) -> int:
        return self.parts.numel()

    def __len__(self) -> int:
        return self.num_items

    def _check_ids(self, ids: Tensor) -> None:
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_items):
            bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
            raise ValueError(f"item id {bad} out of range [0, {self.num_items})")

    def to_id(self, sample, part):
        """(B,), (B,) -> (B,) ids (ints in, int out)."""
        scalar = isinstance(sample, int) and isinstance(part, int)
        s = torch.as_tensor(sample).long()
        p = torch.as_tensor(part).long()
        if s.shape != p.shape:
            raise ValueError(f"sample and part must have the same shape; got {tuple(s.shape)} and {tuple(p.shape)}")
        if s.numel():
            if int(s.min()) < 0 or int(s.max()) >= self.num_samples:
                bad = int(s.min()) if int(s.min()) < 0 else int(s.max())
                raise ValueError(f"sample {bad} out of range [0, {self.num_samples})")
            bad_part = (p < 0) | (p >= self.parts[s])
            if bool(bad_part.any()):
                i = int(bad_part.reshape(-1).nonzero()[0])
                si, pi = int(s.reshape(-1)[i]), int(p.reshape(-1)[i])
                raise ValueError(f"part {pi} out of range [0, {int(self.parts[si])}) for sample {si}")
        ids = self.offsets[s] + p
        return int(ids) if scalar else ids

    def to_pairs(self, ids) -> tuple[Tensor, Tensor]:
        """(B,) ids -> ((B,) samples, (B,) parts), by ``torch.searchsorted`` on the offsets."""
        ids = torch.as_tensor(ids).long()
        self._check_ids(ids)
        samples = torch.searchsorted(self.offsets, ids, right=True) - 1
        return samples, ids - self.offsets[samples]

    def parts_of(self, sample: int) -> range:
        """The item ids owned by ``sample``."""
        if not 0 <= int(sample) < self.num_samples:
            raise ValueError(f"sample {sample} out of range [0, {self.num_samples})")
        return range(int(self.offsets[sample]), int(self.offsets[sample + 1]))

    def group_by_sample(self, ids) -> dict[int, list[int]]:
        """(B,) ids -> {sample: sorted list of its part indices among ``ids``} (duplicates removed)."""
        ids = torch.unique(torch.as_tensor(ids).long())  # sorted, so samples come out grouped
        samples, parts = self.to_pairs(ids)
        uniq, counts = torch.unique_consecutive(samples, return_counts=True)
        return {int(s): p.tolist() for s, p in zip(uniq.tolist(), torch.split(parts, counts.tolist()))}
