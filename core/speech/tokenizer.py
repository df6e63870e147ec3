"""Character tokenizer for CTC/attention: id 0 = CTC blank, then <sos/eos>, <unk>, then characters."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from core.speech.text import ALPHABET

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Maps text to ids and back.

    Layout: ``0 = <blank>`` (CTC), ``1 = <sos/eos>`` (shared start/end symbol of the attention decoder,
    as in ESPnet/auto_avsr), ``2 = <unk>``, then one id per character of ``alphabet`` (in order).
    Unknown characters raise a ``ValueError`` naming them, unless ``unk="map"`` maps them to ``<unk>``.
    """

    BLANK, SOS_EOS, UNK = 0, 1, 2
    SPECIALS = ("<blank>", "<sos/eos>", "<unk>")

    def __init__(self, alphabet: str | Sequence[str] = ALPHABET, *, unk: str = "error") -> None:
        chars = list(alphabet)
        if len(set(chars)) != len(chars):
            raise ValueError(f"alphabet has repeated characters: {''.join(chars)!r}")
        if unk not in ("error", "map"):
            raise ValueError(f"unk={unk!r}; valid choices: error, map")
        self.chars = chars
        self.unk = unk
        self._ids = {c: i + len(self.SPECIALS) for i, c in enumerate(chars)}

    @property
    def sos(self) -> int:
        return self.SOS_EOS

    @property
    def eos(self) -> int:
        return self.SOS_EOS

    @property
    def blank(self) -> int:
        return self.BLANK

    @property
    def vocab_size(self) -> int:
        return len(self.SPECIALS) + len(self.chars)

    def __len__(self) -> int:
        return self.vocab_size

    def unknown_chars(self, text: str) -> list[str]:
        """Characters of ``text`` outside the alphabet (sorted, unique)."""
        return sorted(set(c for c in text if c not in self._ids))

    def encode(self, text: str, *, where: str = "") -> list[int]:
        """Text -> ids (no sos/eos). ``where`` (e.g. a file name) is added to the error message."""
        bad = self.unknown_chars(text)
        if bad and self.unk == "error":
            loc = f" in {where}" if where else ""
            raise ValueError(f"characters {bad!r} outside the tokenizer alphabet{loc} (text {text!r}); "
                             f"valid characters: {''.join(self.chars)!r}; normalise the text or use unk='map' (data.unk=map)")
        return [self._ids.get(c, self.UNK) for c in text]

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Ids -> text; specials (blank, sos/eos) are skipped, <unk> becomes '?'."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        n0 = len(self.SPECIALS)
        for i in ids:
            i = int(i)
            if i == self.UNK:
                out.append("?")
            elif n0 <= i < self.vocab_size:
                out.append(self.chars[i - n0])
            elif not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} outside the vocabulary [0, {self.vocab_size})")
        return "".join(out)

    def state_dict(self) -> dict:
        return {"chars": "".join(self.chars), "unk": self.unk}

    @classmethod
    def from_state_dict(cls, sd: dict) -> "CharTokenizer":
        return cls(sd["chars"], unk=sd.get("unk", "error"))
