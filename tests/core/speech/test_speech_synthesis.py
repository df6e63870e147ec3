import numpy as np
import pytest

from core.speech.espeak import Synthesizer
from core.speech.text import ALPHABET, generate_sentences, split_sentences


def test_synthesis_is_deterministic_in_any_order():
    s = Synthesizer()
    a = s.synth("the old dog slept in the garden", variant="f3", rate=170)
    s.synth("something else first", voice="en-gb-x-rp", variant="m3", rate=250, pitch=80)
    b = s.synth("the old dog slept in the garden", variant="f3", rate=170)
    assert s._engine.deterministic
    assert a.sample_rate == 22050 and a.wav.dtype == np.float32
    np.testing.assert_array_equal(a.wav, b.wav)
    assert a.phonemes == b.phonemes and a.words == b.words
    c = s.synth("the old dog slept in the garden", variant="f3", rate=300)
    assert c.duration < a.duration                        # faster speech is shorter


def test_phoneme_and_word_timings_are_monotone_and_inside_audio():
    r = Synthesizer().synth("she sells sea shells by the sea shore", rate=160)
    assert len(r.words) == 8 and [w[0] for w in r.words] == list(range(8))
    for sym, s, e in r.phonemes:
        assert 0 <= s < e <= r.duration + 1e-6 and sym and "'" not in sym
    starts = [p[1] for p in r.phonemes]
    assert starts == sorted(starts)
    assert all(p[2] <= q[1] + 1e-9 for p, q in zip(r.phonemes, r.phonemes[1:]))   # no overlap
    assert all(w[1] <= w[2] for w in r.words)
    assert [w[1] for w in r.words] == sorted(w[1] for w in r.words)


def test_synth_bad_inputs():
    s = Synthesizer()
    with pytest.raises(ValueError, match="non-empty"):
        s.synth("   ")
    with pytest.raises(ValueError, match="rate"):
        s.synth("hello", rate=20)
    with pytest.raises(ValueError, match="no voice"):
        s.synth("hello", voice="xx-nonexistent")


def test_sentences_distinct_disjoint_and_in_alphabet():
    a = generate_sentences(300, seed=1)
    assert a == generate_sentences(300, seed=1) and a != generate_sentences(300, seed=2)
    assert len(set(a)) == 300 and set("".join(a)) <= set(ALPHABET)
    sp = split_sentences(100, 20, 20, seed=0)
    assert [len(sp[k]) for k in ("train", "dev", "test")] == [100, 20, 20]
    assert not set(sp["train"]) & set(sp["dev"]) and not set(sp["train"]) & set(sp["test"])
    assert len({len(s.split()) for s in a}) >= 5         # varied lengths
