"""GRID-style corpus: grammar, disjoint splits, held-out speakers, viseme ceiling, word units."""
import json

import pytest

from apps.msrs.data import AVDataset, GRID_SPLITS, collate_av
from apps.msrs.data.grid_words import SLOTS, VOCABULARY, draw_sentences, num_sentences, sentence_of
from apps.msrs.data.viseme_ceiling import ceiling_wer, viseme_classes, viseme_string
from apps.msrs.data.visemes import VISEMES
from core.speech.word_tokenizer import WordTokenizer


def test_grammar_and_disjoint_draws():
    assert len(VOCABULARY) == 51 and num_sentences() == 64000
    assert sentence_of(0) == "bin blue at a zero again" and sentence_of(num_sentences() - 1) == "set white with z nine soon"
    d = draw_sentences({"train": 300, "val": 50, "test": 50}, seed=3)
    assert len(set(d["train"])) == 300
    assert not set(d["train"]) & set(d["test"]) and not set(d["val"]) & set(d["test"])
    assert d == draw_sentences({"train": 300, "val": 50, "test": 50}, seed=3)
    for s in d["test"]:
        assert all(w in slot for w, slot in zip(s.split(), SLOTS))
    with pytest.raises(ValueError, match="64000"):
        draw_sentences({"train": 70000}, 0)


def test_viseme_ceiling_from_classes():
    bil, spr, alv = (VISEMES.index(v) for v in ("bilabial", "spread_v", "alveolar"))
    assert viseme_string(["b", "i:", "i:", "_"]) == (bil, spr)
    wv = {"b": (bil, spr), "p": (bil, spr), "m": (alv,), "x": (spr,)}
    classes = viseme_classes(wv, slots=[("b", "p", "m"), ("x",)])
    assert classes == [{"b": 2, "p": 2, "m": 1}, {"x": 1}]
    # "b x": b is a coin flip (1/2 error), x is certain -> 1/4; "m x" -> 0
    assert ceiling_wer(["b x", "m x"], [classes, classes]) == pytest.approx(0.125)


def test_grid_corpus_layout_speakers_and_ceiling(grid_corpus):
    man = json.loads((grid_corpus / "manifest.json").read_text())
    utts = man["utterances"]
    by = {s: [u for u in utts if u["split"] == s] for s in GRID_SPLITS}
    assert [len(by[s]) for s in GRID_SPLITS] == man["params"]["counts"][:4]
    texts = {s: {u["text"] for u in by[s]} for s in GRID_SPLITS}
    for a in GRID_SPLITS:
        for b in GRID_SPLITS:
            assert a == b or not texts[a] & texts[b]
    train_spk = {u["speaker"] for s in ("train", "val", "test") for u in by[s]}
    assert train_spk <= set(man["train_speakers"])
    assert {u["speaker"] for u in by["test_unseen"]} <= set(man["heldout_speakers"])
    assert not set(man["train_speakers"]) & set(man["heldout_speakers"])
    # b and p look the same on the lips for every voice: the ceiling is real and > 0 only through such words
    assert all({"b", "p"} <= set(amb[3]) for amb in man["ambiguous_words"].values())
    assert all(0.0 <= man["viseme_ceiling_wer"][s] < 0.2 for s in GRID_SPLITS)
    tok = WordTokenizer(VOCABULARY)
    ds = AVDataset(grid_corpus, "labels/test_unseen.csv", "audiovisual", tokenizer=tok, label_format="text",
                   frame_size=44)
    item = ds[0]
    assert item["video"].shape[1:] == (44, 44) and item["audio"].shape[0] == item["video"].shape[0] * 640
    assert tok.decode(item["target"]) == item["text"] and len(item["target"]) == 6
    assert collate_av([ds[0], ds[1]])["targets"].shape[1] == 6


def test_word_tokenizer_round_trip_and_errors():
    tok = WordTokenizer(VOCABULARY)
    ids = tok.encode("bin blue at b two now")
    assert min(ids) >= 3 and tok.decode([0, *ids, 1]) == "bin blue at b two now" and tok.vocab_size == 54
    with pytest.raises(ValueError, match=r"\['purple'\].*in x.csv:3"):
        tok.encode("bin purple at b two now", where="x.csv:3")
    assert WordTokenizer(VOCABULARY, unk="map").encode("purple") == [WordTokenizer.UNK]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([54])
    with pytest.raises(ValueError, match="repeated"):
        WordTokenizer(["a", "a"])


def test_every_letter_sounds_different():
    """The audio must tell every word of a slot apart (v1 spoke "a" as "ay" = "aye", the sound of "i")."""
    from apps.msrs.data.grid_words import SPOKEN
    from core.speech.espeak import Synthesizer

    s = Synthesizer()
    sounds = {}
    for w in SLOTS[3]:
        r = s.synth(f"at {SPOKEN.get(w, w)} two", voice="en-us")
        sounds[w] = tuple(p for p, _, _ in r.phonemes)
    same = [(a, b) for a in sounds for b in sounds if a < b and sounds[a] == sounds[b]]
    assert not same, same
