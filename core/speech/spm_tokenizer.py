"""SentencePiece tokenizer with auto_avsr's id layout, so auto_avsr's label lists are read as they are.

auto_avsr (``datamodule/transforms.py: TextTransform``) encodes text with a SentencePiece model
(``spm/unigram/unigram5000.model``) and maps each piece to an id through a units file
(``unigram5000_units.txt``, one ``<piece> <id>`` per line, ``<unk> 1`` first); its token list is
``["<blank>"] + units + ["<eos>"]``: ``0 = <blank>`` (CTC), ``1 = <unk>``, ``2 .. N`` the pieces,
``N + 1 = <sos/eos>``. ``SentencePieceTokenizer(model, units)`` reproduces that layout; without a units
file it is rebuilt the way ESPnet writes it (``<unk> 1``, then every non-control piece of the model in byte
order, numbered from 2) -- pass auto_avsr's file when you have it.

``train_unigram(texts, path, vocab_size)`` trains a unigram model on a corpus' training transcripts the way
the paper family does (``spm_train --model_type=unigram``), deterministically (one thread, no sampling), with
the text kept as it is (identity normalisation; the corpora here are already normalised). ``state_dict()``
carries the model itself (its bytes as a uint8 tensor, safe under ``weights_only`` loading) and
:meth:`SentencePieceTokenizer.from_state_dict` rebuilds it, so an exported model needs no side file.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

__all__ = ["SentencePieceTokenizer", "texts_digest", "train_unigram"]

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

    def __init__(self, model: str | os.PathLike | None = None, units: str | os.PathLike | None = None, *,
                 lowercase: bool = False, unk: str = "map", model_proto: bytes | None = None,
                 unit_list: Sequence[str] | None = None):
        import sentencepiece  # a field library, needed only by this tokenizer

        if unk not in ("map", "error"):
            raise ValueError(f"unk={unk!r}; valid choices: map, error")
        if (model is None) == (model_proto is None):
            raise ValueError("give exactly one of model (a .model file) and model_proto (its bytes)")
        if model is not None:
            model = Path(model)
            if not model.is_file():
                raise FileNotFoundError(f"SentencePiece model not found: {model}")
            model_proto = model.read_bytes()
        self.model_path = model
        self.sp = sentencepiece.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise ValueError(f"{model or 'model_proto'}: not a SentencePiece model ({e})") from e
        self._proto = bytes(model_proto)
        if unit_list is not None:
            self.units = list(unit_list)
            if not self.units or self.units[0] != "<unk>":
                raise ValueError("unit_list must start with '<unk>' (auto_avsr's units layout)")
        elif units is not None:
            self.units = _read_units(Path(units))
        else:
            pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())
                      if not (self.sp.is_control(i) or self.sp.is_unknown(i))]
            self.units = ["<unk>"] + sorted(pieces, key=lambda s: s.encode("utf8"))
        self.lowercase = lowercase
        self.unk = unk
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

    def pieces(self, text: str) -> list[str]:
        """The model's pieces for ``text`` (a piece starting with U+2581 starts a word)."""
        return self.sp.encode_as_pieces(text.lower() if self.lowercase else text)

    def encode(self, text: str, *, where: str = "") -> list[int]:
        """Text -> ids. Pieces missing from the units map to <unk>, as auto_avsr does (``unk="map"``); with
        ``unk="error"`` they raise a ValueError naming ``where`` and the text."""
        pieces = self.pieces(text)
        ids = [self._ids.get(p, self.UNK) for p in pieces]
        if self.unk == "error" and self.UNK in ids:
            bad = sorted({p for p, i in zip(pieces, ids) if i == self.UNK})
            loc = f"{where}: " if where else ""
            raise ValueError(f"{loc}{bad!r} not in the SentencePiece units (text {text!r}); a character the "
                             "training transcripts never had, or set unk=map to map it to <unk>")
        return ids

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
        """Everything needed to rebuild the tokenizer, the model included (no side files)."""
        return {"model_proto": torch.frombuffer(bytearray(self._proto), dtype=torch.uint8).clone(),
                "units": list(self.units), "lowercase": self.lowercase, "unk": self.unk}

    @classmethod
    def from_state_dict(cls, sd: dict) -> "SentencePieceTokenizer":
        proto = sd["model_proto"]
        proto = proto.numpy().tobytes() if isinstance(proto, torch.Tensor) else bytes(proto)
        return cls(model_proto=proto, unit_list=sd["units"], lowercase=bool(sd.get("lowercase", False)),
                   unk=sd.get("unk", "map"))


def train_unigram(texts: Iterable[str], path: str | os.PathLike, vocab_size: int) -> Path:
    """Train a unigram SentencePiece model of ``vocab_size`` pieces (``<unk>`` included; no bos/eos: the
    tokenizer adds blank and sos/eos) on ``texts`` and write it atomically to ``path``. Deterministic: one
    thread, the sentences in the given order, identity normalisation, every character covered. Returns
    ``path``. Raises ValueError for a vocabulary the texts cannot fill (SentencePiece's own message)."""
    import sentencepiece

    from core.training.atomic import atomic_write

    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("train_unigram: no non-empty training transcripts")
    if int(vocab_size) < 2:
        raise ValueError(f"vocab_size={vocab_size} must be >= 2")
    buf = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=buf, model_type="unigram", vocab_size=int(vocab_size),
            character_coverage=1.0, normalization_rule_name="identity", num_threads=1,
            shuffle_input_sentence=False, input_sentence_size=0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            minloglevel=2)
    except RuntimeError as e:
        raise ValueError(f"SentencePiece could not train {vocab_size} unigram pieces on {len(texts)} "
                         f"transcripts: {e}") from e
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def texts_digest(texts: Iterable[str]) -> str:
    """A short digest of a transcript list (names the cached model trained on it)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf8") + b"\n")
    return h.hexdigest()[:12]
