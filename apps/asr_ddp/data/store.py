"""Precomputed log-mel features and token ids for one split (validated up front)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from core.speech.datasets import SkipReport, Utterance, read_audio, validate_utterances
from core.speech.features import LogMel, num_frames
from core.speech.tokenizer import CharTokenizer

__all__ = ["FeatureStore"]


class FeatureStore:
    """Features (float16 (T, 80) per utterance), token ids, lengths and durations of a list of utterances.

    Every utterance is validated first (:func:`core.speech.datasets.validate_utterances`): unreadable or
    empty audio, a wrong sample rate, unknown characters or a transcript too long for CTC after
    subsampling raise a ValueError naming the file, or with ``on_error="skip"`` are dropped and
    counted in ``self.skipped``.
    """

    def __init__(self, utts: Sequence[Utterance], tokenizer: CharTokenizer, *, sample_rate: int = 16000,
                 logmel: LogMel | None = None, subsampling: int = 4, on_error: str = "raise") -> None:
        from core.speech.model import subsampled_length

        self.logmel = logmel or LogMel(sample_rate)
        frames_for = (lambda n: subsampled_length(num_frames(n, self.logmel.hop_length), subsampling)) \
            if subsampling > 1 else (lambda n: num_frames(n, self.logmel.hop_length))
        kept, self.skipped = validate_utterances(list(utts), sample_rate=sample_rate, encode=tokenizer.encode,
                                                 frames_for=frames_for, on_error=on_error)
        self.utts = kept
        self.texts = [u.text for u in kept]
        self.tokens = [tokenizer.encode(u.text, where=str(u.path)) for u in kept]
        self.durations = [u.duration for u in kept]
        self.feats: list[Tensor] = []
        with torch.no_grad():
            for u in kept:
                self.feats.append(self.logmel(read_audio(u.path, sample_rate)).to(torch.float16))
        self.lengths = [int(f.shape[0]) for f in self.feats]

    def __len__(self) -> int:
        return len(self.utts)

    def subset(self, n: int) -> "FeatureStore":
        """A view of the first ``n`` utterances (shares the feature tensors)."""
        new = object.__new__(FeatureStore)
        new.__dict__.update(self.__dict__)
        for k in ("utts", "texts", "tokens", "durations", "feats", "lengths"):
            setattr(new, k, getattr(self, k)[:n])
        return new

    @property
    def skipped_report(self) -> SkipReport:
        return self.skipped
