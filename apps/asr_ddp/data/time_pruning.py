"""Within-utterance time pruning: drop time points or contiguous chunks so the sequence really shortens.

Two ways to keep the transcript consistent with what is left:

* ``point`` / ``chunk`` (the variant the repository had first): frames are removed, the transcript stays whole,
  and a CTC length guard adds chunks back when too few frames would remain for it.
* ``chunk_aligned``: chunks are removed and so are the words they wholly cover (word timings from the corpus:
  the digit corpus' construction, espeak-ng word events, or a forced alignment), so the model is never asked
  to emit a word whose audio is gone. A word cut only partly keeps its label.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["TIME_UNITS", "min_input_frames", "time_keep_index", "prune_time", "covered_words"]

TIME_UNITS = ("point", "chunk", "chunk_aligned")


def min_input_frames(min_encoder_frames: int, subsampling: int) -> int:
    """Fewest input frames whose subsampled length is >= ``min_encoder_frames`` (conv2d x2/x4/x8 or 1)."""
    from core.speech.model import subsampled_length

    if subsampling == 1:
        return min_encoder_frames
    n = max(1, min_encoder_frames * subsampling)
    while subsampled_length(n, subsampling) < min_encoder_frames:
        n += 1
    while n > 1 and subsampled_length(n - 1, subsampling) >= min_encoder_frames:
        n -= 1
    return n


def time_keep_index(num_frames: int, keep: float, unit: str = "chunk", *, chunk_frames: int = 20,
                    min_frames: int = 1, generator: torch.Generator | None = None) -> Tensor:
    """Sorted frame indices to keep (K,) out of ``num_frames``.

    ``unit="point"`` keeps a random ``keep`` fraction of single frames; ``unit="chunk"`` (or ``"chunk_aligned"``,
    whose frames are chosen the same way) cuts the
    utterance into chunks of ``chunk_frames`` and keeps a random ``keep`` fraction of whole chunks.
    Guard: at least ``min(num_frames, min_frames)`` frames are kept (e.g. what CTC needs for the
    transcript after subsampling); if the pruned length would fall below it, more is kept.
    """
    if unit not in TIME_UNITS:
        raise ValueError(f"time_unit={unit!r}; valid choices: {', '.join(TIME_UNITS)}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"time_keep={keep} must be in (0, 1]")
    floor = min(num_frames, max(1, min_frames))
    if keep >= 1.0 or num_frames <= floor:
        return torch.arange(num_frames)
    if unit == "point":
        k = max(floor, int(round(keep * num_frames)))
        return torch.sort(torch.randperm(num_frames, generator=generator)[:k]).values
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames={chunk_frames} must be >= 1")
    n_chunks = math.ceil(num_frames / chunk_frames)
    sizes = torch.full((n_chunks,), chunk_frames)
    sizes[-1] = num_frames - chunk_frames * (n_chunks - 1)
    order = torch.randperm(n_chunks, generator=generator)
    k = max(1, int(round(keep * n_chunks)))
    chosen = order[:k]
    while int(sizes[chosen].sum()) < floor and k < n_chunks:   # guard: add chunks until long enough
        k += 1
        chosen = order[:k]
    chosen = torch.sort(chosen).values
    return torch.cat([torch.arange(int(c) * chunk_frames, int(c) * chunk_frames + int(sizes[c])) for c in chosen])


def prune_time(feats: Tensor, keep: float, unit: str = "chunk", *, chunk_frames: int = 20, min_frames: int = 1,
               generator: torch.Generator | None = None) -> Tensor:
    """(T, D) -> (T', D) with T' ~= keep * T (>= min(T, min_frames)); see :func:`time_keep_index`."""
    idx = time_keep_index(feats.shape[0], keep, unit, chunk_frames=chunk_frames, min_frames=min_frames,
                          generator=generator)
    return feats[idx]


def covered_words(keep_idx: Tensor, num_frames: int, words: list[tuple[int, int, int]]) -> list[int]:
    """Indices of the words (``(word_index, start_frame, end_frame)``) whose frames were ALL dropped.

    ``keep_idx`` (K,) are the kept frame indices of a ``num_frames`` utterance. A word with no frame inside
    the utterance (timing past its end) is never reported.
    """
    kept = torch.zeros(num_frames + 1, dtype=torch.int32)
    kept[keep_idx] = 1
    csum = torch.cumsum(kept, 0)                 # csum[t] = kept frames in [0, t]
    out = []
    for w, s, e in words:
        s, e = max(0, s), min(num_frames, e)
        if e <= s:
            continue
        n_kept = int(csum[e - 1]) - (int(csum[s - 1]) if s > 0 else 0)
        if n_kept == 0:
            out.append(w)
    return out
