"""SentencePiece tokenizer with auto_avsr's id layout, so auto_avsr's label lists are read as they are.

auto_avsr (``datamodule/transforms.py: TextTransform``) encodes text with a SentencePiece model
(``spm/unigram/unigram5000.model``) and maps each piece to an id through a units file
(``unigram5000_units.txt``, one ``<piece> <id>`` per line, ``<unk> 1`` first); its token list is
``["<blank>"] + units + ["<eos>"]``: ``0 = <blank>`` (CTC), ``1 = <unk>``, ``2 .. N`` the pieces,
``N + 1 = <sos/eos>``. ``SentencePieceTokenizer(model, units)`` reproduces that layout; without a units
file it is rebuilt the way ESPnet writes it (``<unk> 1``, then every non-control piece of the model in byte
order, numbered from 2) -- pass auto_avsr's file when you have it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch

__all__ = ["SentencePieceTokenizer"]

_SPACE = "\u2581"


def _read_units(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"SentencePiece units file not found: {path}")
    units, ids = [], []
    for n, line in enumerate(path.read_text(encoding="utf8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise ValueError(f"{path}:{n}: expected '<piece> <id>', got {line!r}")
        units.append(parts[0])
        ids.append(int(parts[1]))
    if ids != list(range(1, len(units) + 1)):
        raise ValueError(f"{path}: ids must run 1, 2, 3, ... in file order (auto_avsr's units layout)")
    if not units or units[0] != "<unk>":
        raise ValueError(f"{path}: the first unit must be '<unk> 1' (auto_avsr's units layout)")
    return units


class SentencePieceTokenizer:
    """``encode(text) -> ids``, ``decode(ids) -> text`` in auto_avsr's id layout (see module docstring)."""

    BLANK, UNK = 0, 1

    def __init__(self, model: str | os.PathLike, units: str | os.PathLike | None = None, *, lowercase: bool = False):
        import sentencepiece  # a field library, needed only by this tokenizer

        model = Path(model)
        if not model.is_file():
            raise FileNotFoundError(f"SentencePiece model not found: {model}")
        self.model_path = model
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(model))
        if units is not None:
            self.units = _read_units(Path(units))
        else:
            pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())
                      if not (self.sp.is_control(i) or self.sp.is_unknown(i))]
            self.units = ["<unk>"] + sorted(pieces, key=lambda s: s.encode("utf8"))
        self.units_path = None if units is None else Path(units)
        self.lowercase = lowercase
        self._ids = {u: i + 1 for i, u in enumerate(self.units)}
        self.token_list = ["<blank>", *self.units, "<eos>"]

    @property
    def blank(self) -> int:
        return self.BLANK

    @property
    def sos(self) -> int:
        return len(self.token_list) - 1

    eos = sos

    @property
    def vocab_size(self) -> int:
        return len(self.token_list)

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, *, where: str = "") -> list[int]:
        """Text -> ids (pieces missing from the units map to <unk>, as auto_avsr does)."""
        if self.lowercase:
            text = text.lower()
        return [self._ids.get(p, self.UNK) for p in self.sp.encode_as_pieces(text)]

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Ids -> text (blank and sos/eos skipped, <unk> kept as ``<unk>``); out-of-range ids raise."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} outside the vocabulary [0, {self.vocab_size})")
            if i in (self.BLANK, self.sos):
                continue
            out.append(self.token_list[i])
        return "".join(out).replace(_SPACE, " ").strip()

    def state_dict(self) -> dict:
        return {"model": str(self.model_path), "units": None if self.units_path is None else str(self.units_path),
                "lowercase": self.lowercase}
