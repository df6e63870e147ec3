"""The GRID sentence grammar (Cooke et al. 2006): six fixed slots, 51 words.

``command colour preposition letter digit adverb``, e.g. "bin blue at f two now"; letters exclude "w" as
in GRID. 4 * 4 * 4 * 25 * 10 * 4 = 64,000 sentences. ``SPOKEN`` gives the text handed to espeak-ng for
words it would not read as intended inside a sentence (single letters are read as letter names).
"""
from __future__ import annotations

import numpy as np

__all__ = ["SLOTS", "SLOT_NAMES", "VOCABULARY", "SPOKEN", "num_sentences", "sentence_of", "draw_sentences",
           "spoken_text"]

SLOT_NAMES = ("command", "colour", "preposition", "letter", "digit", "adverb")
SLOTS: tuple[tuple[str, ...], ...] = (
    ("bin", "lay", "place", "set"),
    ("blue", "green", "red", "white"),
    ("at", "by", "in", "with"),
    tuple("abcdefghijklmnopqrstuvxyz"),
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    ("again", "now", "please", "soon"),
)
VOCABULARY: tuple[str, ...] = tuple(dict.fromkeys(w for slot in SLOTS for w in slot))
# letters espeak-ng would read as words (or skip) inside a sentence: spelled as their names
SPOKEN = {"a": "eh", "e": "ee", "i": "eye", "o": "oh", "u": "you", "y": "why"}   # espeak: "ay" = "aye" = "i"


def num_sentences() -> int:
    return int(np.prod([len(s) for s in SLOTS]))


def sentence_of(index: int) -> str:
    """The ``index``-th sentence of the grammar (mixed-radix over the slots)."""
    if not 0 <= index < num_sentences():
        raise ValueError(f"sentence index {index} outside [0, {num_sentences()})")
    words = []
    for slot in reversed(SLOTS):
        index, r = divmod(index, len(slot))
        words.append(slot[r])
    return " ".join(reversed(words))


def draw_sentences(counts: dict[str, int], seed: int) -> dict[str, list[str]]:
    """Disjoint sentence lists per split (one permutation of the grammar, consecutive slices)."""
    total = sum(counts.values())
    if total > num_sentences():
        raise ValueError(f"asked for {total} distinct sentences; the grammar has {num_sentences()}")
    perm = np.random.default_rng([seed, 7]).permutation(num_sentences())[:total]
    out, k = {}, 0
    for split, n in counts.items():
        out[split] = [sentence_of(int(i)) for i in perm[k:k + n]]
        k += n
    return out


def spoken_text(sentence: str) -> str:
    """The text espeak-ng speaks for a transcript."""
    return " ".join(SPOKEN.get(w, w) for w in sentence.split())
