"""Word tokenizer for small-vocabulary corpora (GRID-style commands): one id per word.

Layout as ``CharTokenizer``: ``0 = <blank>`` (CTC), ``1 = <sos/eos>``, ``2 = <unk>``, then one id per word of
``words`` (in order). Text is split on whitespace; ``decode`` joins words with single spaces.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

__all__ = ["WordTokenizer"]


class WordTokenizer:
    """Maps whitespace-separated words to ids and back; unknown words raise (naming them and ``where``)
    unless ``unk="map"``."""

    BLANK, SOS_EOS, UNK = 0, 1, 2
    SPECIALS = ("<blank>", "<sos/eos>", "<unk>")

    def __init__(self, words: Sequence[str], *, unk: str = "error") -> None:
        words = [str(w) for w in words]
        if not words:
            raise ValueError("WordTokenizer needs at least one word")
        dup = sorted({w for w in words if words.count(w) > 1})
        if dup:
            raise ValueError(f"repeated words in the vocabulary: {dup}")
        bad = [w for w in words if not w or any(c.isspace() for c in w)]
        if bad:
            raise ValueError(f"vocabulary words must be non-empty and hold no whitespace: {bad[:5]}")
        if unk not in ("error", "map"):
            raise ValueError(f"unk={unk!r}; valid choices: error, map")
        self.words, self.unk = words, unk
        self._ids = {w: i + len(self.SPECIALS) for i, w in enumerate(words)}

    sos = property(lambda self: self.SOS_EOS)
    eos = property(lambda self: self.SOS_EOS)
    blank = property(lambda self: self.BLANK)

    @property
    def vocab_size(self) -> int:
        return len(self.SPECIALS) + len(self.words)

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, *, where: str = "") -> list[int]:
        """Text -> ids (no sos/eos)."""
        toks = text.split()
        bad = sorted({w for w in toks if w not in self._ids})
        if bad and self.unk == "error":
            loc = f" in {where}" if where else ""
            raise ValueError(f"words {bad[:8]!r} outside the vocabulary{loc} (text {text!r}); "
                             f"{len(self.words)} known words, e.g. {self.words[:6]}; use unk='map' (data.unk=map) to map them to <unk>")
        return [self._ids.get(w, self.UNK) for w in toks]

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Ids -> text; blank and sos/eos are skipped, <unk> becomes '?'."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out, n0 = [], len(self.SPECIALS)
        for i in ids:
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} outside the vocabulary [0, {self.vocab_size})")
            if i == self.UNK:
                out.append("?")
            elif i >= n0:
                out.append(self.words[i - n0])
        return " ".join(out)

    def state_dict(self) -> dict:
        return {"words": list(self.words), "unk": self.unk}

    @classmethod
    def from_state_dict(cls, sd: dict) -> "WordTokenizer":
        return cls(sd["words"], unk=sd.get("unk", "error"))
