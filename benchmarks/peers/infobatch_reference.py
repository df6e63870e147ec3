"""The official InfoBatch pruning and annealing logic, as a small reference to time our data pruner against.

Source: NUS-HPC-AI-Lab/InfoBatch, ``infobatch/infobatch.py`` (commit 8bbb012c256c9eb4de3bb209f8a5e73899de8d02,
2024-09-24), classes ``InfoBatch`` (``prune``, ``no_prune``, ``update``, ``reset_weights``, ``stop_prune``) and
``IBSampler`` (``reset``: the per-epoch choice between pruning and the annealing tail). Written here
without the Dataset wrapper and the ``_BaseDataLoaderIter.__next__`` monkey-patch the official file installs
on import; the per-epoch work is the official one, step for step:

* well-learned items: ``scores < scores.mean()``; of them ``int(keep_ratio * n_low)`` are kept, drawn by
  ``np.random.choice(..., replace=False)``, and weigh ``1 / keep_ratio``; every other item is kept;
* the kept ids are a Python list shuffled by ``np.random.shuffle``; the epoch's generator is seeded with
  the epoch counter (``np.random.seed(self.iterations)`` in the official code; here an equal
  ``np.random.RandomState(iterations)``, which draws the same numbers without touching numpy's global state);
* annealing: once the epoch counter passes ``delta * num_epochs`` every item is visited (shuffled) with
  weight 1.

``keep_ratio = min(1, max(0.1, 1 - prune_ratio))`` and scores start at 3, as in the official code.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["InfoBatchReference"]


class InfoBatchReference:
    """``reset()`` -> this epoch's item ids (a shuffled Python list), as the official ``IBSampler.reset`` makes them."""

    def __init__(self, num_items: int, num_epochs: int, prune_ratio: float = 0.5, delta: float = 0.875):
        if num_items < 1 or num_epochs < 1:
            raise ValueError(f"num_items={num_items} and num_epochs={num_epochs} must be >= 1")
        self.num_items = int(num_items)
        self.keep_ratio = min(1.0, max(1e-1, 1.0 - prune_ratio))
        self.num_epochs = num_epochs
        self.delta = delta
        self.scores = torch.ones(num_items) * 3
        self.weights = torch.ones(num_items)
        self.num_pruned_samples = 0
        self.iterations = 0

    @property
    def stop_prune(self) -> float:
        return self.num_epochs * self.delta

    def update(self, ids: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        """(B,) ids, (B,) per-item losses -> the weighted mean loss; the scores become the latest losses."""
        weights = self.weights[ids]
        self.scores[ids.long()] = losses.detach().cpu()
        return (losses * weights).mean()

    def reset_weights(self) -> None:
        self.weights[:] = 1

    def prune(self, rng: np.random.RandomState) -> list:
        well_learned_mask = (self.scores < self.scores.mean()).numpy()
        well_learned_indices = np.where(well_learned_mask)[0]
        remained_indices = np.where(~well_learned_mask)[0].tolist()
        selected_indices = rng.choice(well_learned_indices, int(self.keep_ratio * len(well_learned_indices)),
                                      replace=False)
        self.reset_weights()
        if len(selected_indices) > 0:
            self.weights[selected_indices] = 1 / self.keep_ratio
            remained_indices.extend(selected_indices)
        self.num_pruned_samples += self.num_items - len(remained_indices)
        rng.shuffle(remained_indices)
        return remained_indices

    def no_prune(self, rng: np.random.RandomState) -> list:
        samples_indices = list(range(self.num_items))
        rng.shuffle(samples_indices)
        return samples_indices

    def reset(self) -> list:
        """One epoch's ids (``IBSampler.reset``); advances the epoch counter."""
        rng = np.random.RandomState(self.iterations)
        if self.iterations > self.stop_prune:
            if self.iterations == self.stop_prune + 1:
                self.reset_weights()
            sample_indices = self.no_prune(rng)
        else:
            sample_indices = self.prune(rng)
        self.iterations += 1
        return sample_indices
