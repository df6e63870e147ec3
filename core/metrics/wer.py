"""Word and character error rates (corpus level), normalised as jiwer's defaults do.

* WER (jiwer ``wer_default``: RemoveMultipleSpaces, Strip, ReduceToListOfListOfWords): words are the
  whitespace-separated tokens of each sentence (``str.split()``), so repeated, leading and trailing spaces
  never count.
* CER (jiwer ``cer_default``: Strip, ReduceToListOfListOfChars): leading and trailing whitespace is stripped,
  every remaining character counts, inner spaces included (a doubled inner space is one inserted character).

No case or punctuation folding happens here: normalise the text first if you want it.
"""
from __future__ import annotations

from collections.abc import Sequence

from core.metrics.edit_distance import edit_distance

__all__ = ["wer", "cer", "edit_counts"]


def _check(refs: Sequence[str], hyps: Sequence[str]) -> None:
    if len(refs) != len(hyps):
        raise ValueError(f"refs and hyps differ in length: {len(refs)} vs {len(hyps)}")


def edit_counts(refs: Sequence[str], hyps: Sequence[str], unit: str = "word") -> tuple[int, int]:
    """(total edit distance, total reference length) over the corpus; unit "word" or "char"."""
    _check(refs, hyps)
    if unit not in ("word", "char"):
        raise ValueError(f"unknown unit {unit!r}; valid choices: word, char")
    errs = total = 0
    for r, h in zip(refs, hyps):
        rt, ht = (r.split(), h.split()) if unit == "word" else (list(r.strip()), list(h.strip()))
        errs += edit_distance(rt, ht)
        total += len(rt)
    return errs, total


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER = sum of word edit distances / number of reference words (0 refs words -> 0 or inf)."""
    errs, total = edit_counts(refs, hyps, "word")
    if total == 0:
        return 0.0 if errs == 0 else float("inf")
    return errs / total


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus CER over characters after stripping each sentence's ends (inner spaces count), as jiwer."""
    errs, total = edit_counts(refs, hyps, "char")
    if total == 0:
        return 0.0 if errs == 0 else float("inf")
    return errs / total
