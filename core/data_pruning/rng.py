"""Deterministic generators derived from (seed, epoch, purpose).

Every random choice of the data pruner and its sampler comes from a fresh ``torch.Generator``
seeded by a SplitMix64 hash of ``(seed, epoch, salt)``. There is therefore no evolving RNG state
to checkpoint: the same seed and epoch give the same draw on every rank and after a resume.
"""
from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1

# One salt per purpose so that draws for different decisions are independent.
SALT_SUBSET = 1
SALT_TIES = 2
SALT_EXPLORE = 3
SALT_INFOBATCH = 4
SALT_SAMPLER = 5


def mix_seed(seed: int, epoch: int, salt: int) -> int:
    """SplitMix64 mix of three integers -> a non-negative 63-bit seed."""
    x = (int(seed) * 0x9E3779B97F4A7C15 + int(epoch) * 0xBF58476D1CE4E5B9 + int(salt) * 0x94D049BB133111EB) & _MASK64
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return x & ((1 << 63) - 1)


def make_generator(seed: int, epoch: int, salt: int) -> torch.Generator:
    """A CPU generator seeded by ``mix_seed(seed, epoch, salt)``."""
    g = torch.Generator()
    g.manual_seed(mix_seed(seed, epoch, salt))
    return g
SALT_RESCORE = 6
