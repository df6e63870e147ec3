"""Precomputed log-mel features, token ids and word alignments for one split (validated up front)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from core.speech.datasets import SkipReport, Utterance, read_audio, validate_utterances
from core.speech.features import LogMel, num_frames

__all__ = ["FeatureStore"]

log = logging.getLogger(__name__)


class FeatureStore:
    """Features (float16 (T, n_mels) per utterance), token ids, lengths, durations and word spans of a split.

    Every utterance is validated first (:func:`core.speech.datasets.validate_utterances`): unreadable or
    empty audio, unknown tokens, and (``ctc_check=True``, for training) a transcript too long for CTC
    after subsampling raise a ValueError naming the file, or with ``on_error="skip"`` are dropped and
    counted in ``self.skipped``. Audio at another sample rate is resampled on load (``resample=True``).

    Evaluation splits are built with ``ctc_check=False`` (decoding needs no CTC length), so nothing is
    filtered from them except unreadable files; those are kept as ``missing`` references that count as
    errors (every word deleted) when the task scores the split.

    ``words[i]`` holds ``(word_index, start_frame, end_frame)`` for every word whose timing the manifest
    gives (``"words": [[index, start_s, end_s], ...]``), else an empty list.

    ``cache``: a folder where the features of this exact list of files (paths, sizes, modification times) and
    feature settings are kept (``<hash>.pt``, tensors only, read back weights-only), so that every run on the same
    corpus extracts them once.
    """

    def __init__(self, utts: Sequence[Utterance], tokenizer, *, sample_rate: int = 16000,
                 logmel: LogMel | None = None, subsampling: int = 4, on_error: str = "raise",
                 ctc_check: bool = True, resample: bool = True, cache: str | os.PathLike | None = None) -> None:
        from core.speech.model import subsampled_length

        self.logmel = logmel or LogMel(sample_rate)
        self.tokenizer = tokenizer
        hop = self.logmel.hop_length
        frames_for = None
        if ctc_check:
            frames_for = (lambda n: subsampled_length(num_frames(n, hop), subsampling)) if subsampling > 1 \
                else (lambda n: num_frames(n, hop))
        kept, self.skipped = validate_utterances(list(utts), sample_rate=sample_rate, encode=tokenizer.encode,
                                                 frames_for=frames_for, on_error=on_error, resample=resample)
        self.missing: list[str] = [] if ctc_check else [t for _, t in _texts_of(utts, self.skipped)]
        self.utts = kept
        self.texts = [u.text for u in kept]
        self.tokens = [tokenizer.encode(u.text, where=str(u.path)) for u in kept]
        self.durations = [u.duration for u in kept]
        fps = 1000.0 / self.logmel.hop_ms
        self.words = [[(int(w[0]), int(round(float(w[1]) * fps)), int(round(float(w[2]) * fps)))
                       for w in u.extra.get("words") or []] for u in kept]
        self.feats: list[Tensor] = self._cached(kept, sample_rate, resample, cache)
        self.lengths = [int(f.shape[0]) for f in self.feats]

    def _extract(self, utts, sample_rate: int, resample: bool) -> list[Tensor]:
        out = []
        with torch.no_grad():
            for u in utts:
                wav = read_audio(u.path, sample_rate, resample=resample)
                out.append(self.logmel(wav).to(torch.float16))
        return out

    def _cached(self, utts, sample_rate: int, resample: bool, cache) -> list[Tensor]:
        if cache is None:
            return self._extract(utts, sample_rate, resample)
        lm = self.logmel
        files = [(str(Path(u.path).resolve()), *(lambda st: (st.st_size, st.st_mtime_ns))(os.stat(u.path))) for u in utts]
        key = hashlib.sha1(json.dumps({"files": files, "sr": sample_rate, "resample": resample, "n_mels": lm.n_mels,
                                       "win": lm.win_length, "hop": lm.hop_length, "v": 1}).encode()).hexdigest()[:16]
        path = Path(cache) / f"{key}.pt"
        if path.is_file():
            try:
                from core.training.checkpoint import safe_torch_load

                feats = safe_torch_load(path, what="feature cache")["feats"]
                if len(feats) == len(utts) and all(isinstance(f, Tensor) for f in feats):
                    return feats
            except Exception as e:  # a broken cache entry is rebuilt, never trusted
                log.warning("feature cache %s unreadable (%s); extracting again", path, e)
        feats = self._extract(utts, sample_rate, resample)
        from core.training.atomic import atomic_torch_save

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(path, {"feats": feats})
        return feats

    @property
    def frame_s(self) -> float:
        """Seconds per feature frame (the hop)."""
        return self.logmel.hop_ms / 1000.0

    def __len__(self) -> int:
        return len(self.utts)

    def subset(self, n: int) -> "FeatureStore":
        """A view of the first ``n`` utterances (shares the feature tensors)."""
        new = object.__new__(FeatureStore)
        new.__dict__.update(self.__dict__)
        for k in ("utts", "texts", "tokens", "durations", "feats", "lengths", "words"):
            setattr(new, k, getattr(self, k)[:n])
        return new

    @property
    def skipped_report(self) -> SkipReport:
        return self.skipped


def _texts_of(utts: Sequence[Utterance], report: SkipReport) -> list[tuple[str, str]]:
    bad = {p for p, _ in report.skipped}
    return [(str(u.path), u.text) for u in utts if str(u.path) in bad]
