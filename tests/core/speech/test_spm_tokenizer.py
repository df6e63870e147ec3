"""Unigram SentencePiece training and the portable tokenizer state (auto_avsr's id layout)."""
import io
import random

import pytest
import torch

from core.training.checkpoint import safe_torch_load
from core.speech.spm_tokenizer import SentencePieceTokenizer, texts_digest, train_unigram

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"]


def _texts(n=300, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(n)]


def test_training_is_deterministic_and_the_layout_is_auto_avsrs(tmp_path):
    texts = _texts()
    a = train_unigram(texts, tmp_path / "a.model", 30)
    b = train_unigram(texts, tmp_path / "b.model", 30)
    assert a.read_bytes() == b.read_bytes()
    tok = SentencePieceTokenizer(a)
    assert tok.vocab_size == 32 and tok.token_list[:2] == ["<blank>", "<unk>"] and tok.sos == 31
    # frequent words became single pieces, so a transcript needs far fewer tokens than characters
    total_tokens = sum(len(tok.encode(t)) for t in texts)
    assert total_tokens < 0.6 * sum(len(t) for t in texts)
    for t in texts[:50]:
        assert tok.decode(tok.encode(t)) == t
    assert texts_digest(texts) == texts_digest(iter(texts)) != texts_digest(texts[1:])


def test_state_round_trips_through_a_weights_only_load_without_the_file(tmp_path):
    path = train_unigram(_texts(), tmp_path / "m.model", 30)
    tok = SentencePieceTokenizer(path, unk="error")
    buf = tmp_path / "tok.pt"
    torch.save({"tok": tok.state_dict()}, buf)
    path.unlink()
    back = SentencePieceTokenizer.from_state_dict(safe_torch_load(buf)["tok"])
    text = "golf alpha echo india hotel"
    assert back.encode(text) == tok.encode(text) and back.units == tok.units and back.unk == "error"


def test_unknown_pieces_and_impossible_sizes_are_named(tmp_path):
    path = train_unigram(_texts(), tmp_path / "m.model", 30)
    strict, lenient = SentencePieceTokenizer(path, unk="error"), SentencePieceTokenizer(path)
    with pytest.raises(ValueError, match=r"utt7\.flac: \['z'\] not in the SentencePiece units"):
        strict.encode("zulu alpha", where="utt7.flac")
    assert SentencePieceTokenizer.UNK in lenient.encode("zulu alpha")      # auto_avsr's behaviour
    with pytest.raises(ValueError, match="could not train 400 unigram pieces on 300 transcripts"):
        train_unigram(_texts(), tmp_path / "big.model", 400)
    with pytest.raises(ValueError, match="no non-empty"):
        train_unigram(["", "  "], tmp_path / "e.model", 10)
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.model: not a SentencePiece model"):
        SentencePieceTokenizer(tmp_path / "bad.model")
    with pytest.raises(ValueError, match="exactly one"):
        SentencePieceTokenizer()
    assert not (tmp_path / "big.model").exists()
