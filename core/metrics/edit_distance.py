"""Levenshtein distance between two token sequences (no third-party import).

``core.metrics`` is imported by apps that have nothing to do with speech (e2enet, spa_graph), so it must not
load torchaudio: a broken torchaudio binary would otherwise take those apps down too. This is the same
unit-cost distance as ``torchaudio.functional.edit_distance`` (a test checks they agree).
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["edit_distance"]


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Minimum number of substitutions, insertions and deletions turning ``ref`` into ``hyp``.

    Two-row dynamic programme, O(len(ref) * len(hyp)) time and O(len(hyp)) memory.
    """
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref  # distance is symmetric; keep the row short
    if not hyp:
        return len(ref)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]
