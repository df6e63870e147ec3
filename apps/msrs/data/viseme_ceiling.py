"""The lip-reading ceiling of a fixed-slot corpus: words whose viseme strings are identical cannot be told apart.

For each speaker voice, every vocabulary word is spoken alone by espeak-ng; its phonemes are mapped to visemes
with the renderer's table (``visemes.viseme_of``), repeats merged and silence dropped. Inside one slot of the
grammar, words with the same viseme string form a class (e.g. "b"/"p" -> bilabial + spread vowel). A reader
that sees the visemes perfectly and knows the grammar (slots uniform and independent, as the corpus draws
them) still has to guess within a class, so its best expected word error on a word of class size ``k`` is
``1 - 1/k``. The ceiling WER of a test set is the mean of that over its words: a lower bound on the WER any
VSR model can reach there (coarticulation and 25 fps sampling can only lose more).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from .grid_words import SLOTS, SPOKEN
from .visemes import VISEMES, viseme_of

__all__ = ["viseme_string", "viseme_classes", "ceiling_wer"]

_SIL = VISEMES.index("sil")


def viseme_string(phonemes: Sequence[str]) -> tuple[int, ...]:
    """Phoneme symbols -> viseme ids with repeats merged and silence dropped."""
    out: list[int] = []
    for p in phonemes:
        v = viseme_of(p)
        if v != _SIL and (not out or out[-1] != v):
            out.append(v)
    return tuple(out)


def viseme_classes(word_visemes: dict[str, tuple[int, ...]], slots: Sequence[Sequence[str]] = SLOTS) -> list[dict[str, int]]:
    """Per slot: ``{word: size of its viseme class within the slot}``."""
    out = []
    for slot in slots:
        groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for w in slot:
            groups[word_visemes[w]].append(w)
        out.append({w: len(groups[word_visemes[w]]) for w in slot})
    return out


def word_visemes_for_voice(synth, speaker) -> dict[str, tuple[int, ...]]:
    """Each vocabulary word spoken alone by ``speaker`` (a ``core.speech.Speaker``) -> its viseme string."""
    words = {w for slot in SLOTS for w in slot}
    out = {}
    for w in sorted(words):
        res = synth.synth(SPOKEN.get(w, w), voice=speaker.voice, variant=speaker.variant, rate=speaker.rate,
                          pitch=speaker.pitch, pitch_range=speaker.pitch_range, seed=0)
        out[w] = viseme_string([p for p, _, _ in res.phonemes])
    return out


def ceiling_wer(sentences: Sequence[str], classes_per_sentence: Sequence[list[dict[str, int]]]) -> float:
    """Mean over all words of ``1 - 1/class size`` (``classes_per_sentence[i]``: the slot classes of the voice
    that spoke sentence ``i``)."""
    if len(sentences) != len(classes_per_sentence):
        raise ValueError(f"{len(sentences)} sentences but {len(classes_per_sentence)} class tables")
    err = n = 0.0
    for s, classes in zip(sentences, classes_per_sentence):
        words = s.split()
        if len(words) != len(classes):
            raise ValueError(f"sentence {s!r} has {len(words)} words; the grammar has {len(classes)} slots")
        for w, c in zip(words, classes):
            err += 1.0 - 1.0 / c[w]
            n += 1
    return err / n if n else 0.0
