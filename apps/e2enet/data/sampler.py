"""Patch batches that are a pure function of (seed, step, rank): exact resume needs no loader state."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from apps.e2enet.data.transforms import augment_transforms

__all__ = ["PatchSampler"]


class PatchSampler:
    """Draws ``batch_size`` augmented patches from preprocessed cases.

    ``batch(step, rank)`` -> (image (B, C, *P), label (B, 1, *P)); the case choice and every MONAI random
    transform are re-seeded from ``(seed, step, rank)``, so a resumed run sees the same batches.
    """

    def __init__(self, cases: Sequence[dict], patch_size: Sequence[int], batch_size: int, *, seed: int = 0, **aug_kw):
        if not cases:
            raise ValueError("PatchSampler needs at least one preprocessed case")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        for c in cases:
            small = [int(s) < int(p) for s, p in zip(c["image"].shape[1:], patch_size)]
            if any(small):
                raise ValueError(f"case of shape {tuple(c['image'].shape[1:])} is smaller than patch_size {tuple(patch_size)}; "
                                 "pad it (preprocess min_size) or use a smaller patch")
        self.cases, self.patch_size, self.batch_size, self.seed = list(cases), tuple(patch_size), batch_size, seed
        self.aug = augment_transforms(patch_size, **aug_kw)

    def batch(self, step: int, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        ss = np.random.SeedSequence([self.seed, step, rank])
        rs = np.random.RandomState(ss.generate_state(1)[0])
        imgs, labs = [], []
        for _ in range(self.batch_size):
            case = self.cases[rs.randint(len(self.cases))]
            self.aug.set_random_state(seed=int(rs.randint(0, 2**31 - 1)))
            out = self.aug({"image": case["image"], "label": case["label"]})
            out = out[0] if isinstance(out, list) else out
            imgs.append(torch.as_tensor(out["image"]).float())
            labs.append(torch.as_tensor(out["label"]))
        return torch.stack(imgs), torch.stack(labs)
