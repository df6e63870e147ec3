"""Offline text source: a seeded probabilistic grammar of short, natural English sentences.

No public-domain prose ships with the installed packages here, so the embedded corpora use a
hand-written grammar (about 40 sentence templates over a ~700-word vocabulary: people, animals,
objects, places, times, numbers, adjectives, adverbs and regular/irregular verbs in several tenses).
It gives millions of distinct, grammatical sentences of 3-14 words, lower case, characters
``a-z``, space and apostrophe (:data:`ALPHABET`). Splits are disjoint by construction: every
sentence is unique and appears in one split only.
"""
from __future__ import annotations

import random

__all__ = ["ALPHABET", "generate_sentences", "split_sentences", "normalize_text"]

ALPHABET = "abcdefghijklmnopqrstuvwxyz '"

_W = lambda s: s.split()  # noqa: E731

NAMES = _W("anna ben carla david emma frank grace henry irene jack kate leo maria nick olga peter rachel sam "
           "tina victor wendy adam bella chris diana eric fiona george helen ivan julia kevin laura martin nora "
           "oscar paula quentin rosa simon thomas ursula vera william")
PEOPLE = _W("teacher doctor farmer driver baker painter nurse student child neighbor captain pilot singer "
            "writer gardener soldier sailor guard waiter lawyer chef player boy girl woman man stranger king "
            "queen friend engineer")
ANIMALS = _W("dog cat horse bird rabbit fox mouse cow sheep goat duck owl bear wolf tiger lion frog fish "
             "pony puppy kitten")
THINGS = _W("book letter cup box chair table lamp window door key coin ring bottle basket bag hat coat shoe "
            "clock phone map ticket picture bell rope knife spoon plate bucket ladder wheel candle pencil "
            "blanket pillow mirror carpet umbrella wallet camera radio bicycle boat car train truck engine "
            "apple orange bread cake cheese egg lemon onion potato tomato sandwich")
PLACES = _W("garden kitchen station market river bridge forest village harbor library office school church "
            "farm field beach hill valley castle tower shop bakery hospital museum park street corner hall "
            "cellar attic barn island lake road")
ADJ = _W("old new small big little large red blue green yellow black white brown heavy light warm cold "
         "bright dark quiet loud clean dirty empty full strange simple quick slow tall short round square "
         "soft hard sharp smooth wet dry young ancient broken shiny wooden famous lucky angry happy sleepy "
         "hungry careful busy gentle")
ADV = _W("slowly quickly quietly carefully suddenly gently happily sadly loudly softly early late again "
         "often rarely always never finally already almost")
# (base, third person, past, past participle, ing)
_VT = [("find", "found", "found"), ("take", "took", "taken"), ("bring", "brought", "brought"),
       ("carry", "carried", "carried"), ("open", "opened", "opened"), ("close", "closed", "closed"),
       ("paint", "painted", "painted"), ("clean", "cleaned", "cleaned"), ("sell", "sold", "sold"),
       ("buy", "bought", "bought"), ("hide", "hid", "hidden"), ("lose", "lost", "lost"),
       ("fix", "fixed", "fixed"), ("break", "broke", "broken"), ("hold", "held", "held"),
       ("push", "pushed", "pushed"), ("pull", "pulled", "pulled"), ("watch", "watched", "watched"),
       ("draw", "drew", "drawn"), ("send", "sent", "sent"), ("keep", "kept", "kept"), ("move", "moved", "moved"),
       ("wash", "washed", "washed"), ("drop", "dropped", "dropped"), ("catch", "caught", "caught"),
       ("throw", "threw", "thrown"), ("lift", "lifted", "lifted"), ("check", "checked", "checked"),
       ("fill", "filled", "filled"), ("borrow", "borrowed", "borrowed"), ("want", "wanted", "wanted"),
       ("need", "needed", "needed"), ("like", "liked", "liked"), ("see", "saw", "seen"),
       ("show", "showed", "shown"), ("leave", "left", "left"), ("mend", "mended", "mended")]
_VI = [("walk", "walked"), ("run", "ran"), ("sleep", "slept"), ("sing", "sang"), ("wait", "waited"),
       ("laugh", "laughed"), ("dance", "danced"), ("swim", "swam"), ("work", "worked"), ("rest", "rested"),
       ("talk", "talked"), ("smile", "smiled"), ("jump", "jumped"), ("play", "played"), ("sit", "sat"),
       ("stand", "stood"), ("listen", "listened"), ("travel", "traveled"), ("hurry", "hurried"),
       ("arrive", "arrived"), ("cry", "cried"), ("shout", "shouted")]
PREP = _W("in near behind under beside inside outside across through past above below")
TIMES = ["this morning", "last night", "on monday", "on friday", "after lunch", "before dinner", "at noon",
         "in the evening", "every day", "last week", "next year", "in the spring", "in winter", "at dawn",
         "yesterday", "today", "tomorrow", "on sunday", "after the storm", "during the rain"]
NUMBERS = _W("two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty")
COLORS_OF_WEATHER = ["the sky was grey", "the wind was strong", "the sun was warm", "the air smelled of rain",
                     "the road was wet", "the snow kept falling", "the night was calm", "the room was warm"]
CONNECT = _W("because while when although after before until")
POSS = _W("his her their our my your")


def _third(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


_IRREGULAR_PLURAL = {"child": "children", "man": "men", "woman": "women", "mouse": "mice", "sheep": "sheep",
                     "fish": "fish", "knife": "knives", "potato": "potatoes", "tomato": "tomatoes"}


def _plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURAL:
        return _IRREGULAR_PLURAL[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _ing(verb: str) -> str:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and verb not in ("see",):
        return verb[:-1] + "ing"
    if verb in ("run", "swim", "sit", "drop", "jump") and verb not in ("jump",):
        return verb + verb[-1] + "ing"
    return verb + "ing"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class _Grammar:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def c(self, seq):
        return self.r.choice(seq)

    def noun(self) -> str:
        return self.c([self.c(PEOPLE), self.c(ANIMALS), self.c(THINGS), self.c(THINGS)])

    def np(self, kind: str | None = None) -> str:
        n = {"person": PEOPLE, "animal": ANIMALS, "thing": THINGS, "place": PLACES}.get(kind or "", None)
        noun = self.c(n) if n else self.noun()
        roll = self.r.random()
        if roll < 0.35:
            return f"the {self.c(ADJ)} {noun}"
        if roll < 0.55:
            adj = self.c(ADJ)
            return f"{_article(adj)} {adj} {noun}"
        if roll < 0.7:
            return f"{self.c(POSS)} {noun}"
        if roll < 0.8 and kind != "place":
            return f"{self.c(NUMBERS)} {_plural(noun)}"
        return f"the {noun}"

    def agent(self) -> str:
        return self.c([self.c(NAMES), self.np("person"), self.np("animal"), "she", "he", "we", "they"])

    def sentence(self) -> str:
        vt, vi = self.c(_VT), self.c(_VI)
        t = self.r.randrange(20)
        place = self.np("place")
        if t == 0:
            return f"{self.agent()} {vt[1]} {self.np('thing')} {self.c(PREP)} {place}"
        if t == 1:
            return f"{self.agent()} {vi[1]} {self.c(ADV)} {self.c(TIMES)}"
        if t == 2:
            return f"did {self.agent()} {vt[0]} {self.np()} {self.c(TIMES)}"
        if t == 3:
            return f"{self.np()} is {self.c(ADJ)} and {self.c(ADJ)}"
        if t == 4:
            return f"{self.c(NAMES)} will {vt[0]} {self.np('thing')} {self.c(TIMES)}"
        if t == 5:
            return f"{self.agent()} {vi[1]} {self.c(CONNECT)} {self.c(COLORS_OF_WEATHER)}"
        if t == 6:
            return f"where did {self.c(NAMES)} {vt[0]} {self.np('thing')}"
        if t == 7:
            return f"{self.c(NAMES)} has {vt[2]} {self.np()} {self.c(PREP)} {place}"
        if t == 8:
            return f"please {vt[0]} {self.np('thing')} to {place}"
        if t == 9:
            return f"{self.c(NAMES)} is {_ing(vi[0])} {self.c(PREP)} {place}"
        if t == 10:
            return f"there are {self.c(NUMBERS)} {_plural(self.c(THINGS))} {self.c(PREP)} {place}"
        if t == 11:
            return f"{self.c(NAMES)} {_third(vt[0])} {self.np()} {self.c(ADV)}"
        if t == 12:
            return f"we {vi[1]} to {place} and {vt[1]} {self.np()}"
        if t == 13:
            return f"{self.np('person')} said that {self.np()} was {self.c(ADJ)}"
        if t == 14:
            return f"{self.c(TIMES)} {self.agent()} {vi[1]} {self.c(PREP)} {place}"
        if t == 15:
            return f"why is {self.np('animal')} so {self.c(ADJ)}"
        if t == 16:
            return f"{self.c(NAMES)} and {self.c(NAMES)} {vt[1]} {self.np()}"
        if t == 17:
            return f"it was {self.c(ADJ)} {self.c(CONNECT)} {self.agent()} {vi[1]}"
        if t == 18:
            return f"{self.np()} was {vt[2]} by {self.np('person')}"
        return f"{self.agent()} {self.c(['could not', 'did not', 'will not', 'would never'])} {vt[0]} {self.np('thing')}"


def normalize_text(text: str) -> str:
    """Lower case, collapse whitespace; characters are left as they are (the tokenizer checks them)."""
    return " ".join(text.lower().split())


def generate_sentences(n: int, seed: int = 0, *, max_words: int = 14) -> list[str]:
    """``n`` distinct grammar sentences (deterministic in ``seed``), each at most ``max_words`` words."""
    if n < 0:
        raise ValueError(f"n={n} must be >= 0")
    rng = random.Random(seed)
    g = _Grammar(rng)
    seen: set[str] = set()
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise RuntimeError(f"could not draw {n} distinct sentences (got {len(out)})")
        s = normalize_text(g.sentence())
        if s in seen or len(s.split()) > max_words:
            continue
        seen.add(s)
        out.append(s)
    return out


def split_sentences(n_train: int, n_dev: int, n_test: int, seed: int = 0, **kw) -> dict[str, list[str]]:
    """Disjoint train/dev/test sentence lists (unique sentences, consecutive slices of one draw)."""
    sents = generate_sentences(n_train + n_dev + n_test, seed, **kw)
    return {"train": sents[:n_train], "dev": sents[n_train:n_train + n_dev], "test": sents[n_train + n_dev:]}
