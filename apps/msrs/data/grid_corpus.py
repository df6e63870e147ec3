"""GRID-style audio-visual corpus: six-slot command sentences, 51 words, rendered mouths + espeak-ng speech.

``build_grid_corpus(root, size)`` writes, under ``<root>/<name>/`` (same layout as ``corpus.py``, so the same
``AVDataset`` reads it)::

    grid_av/grid_av_video/<split>/<speaker>/<uid>.{mp4,wav}   # gray frames (frame_size^2, 25 fps), 16 kHz PCM16
    labels/<split>.csv      # "grid_av,<rel_path.mp4>,<T>,<transcript>"  (plain-text variant: label_format=text)
    babble/*.wav            # babble talkers: training speakers saying sentences of no split
    manifest.json           # parameters, vocabulary, per-utterance speaker/text, the viseme ceiling per split

Splits: ``train``, ``val`` and ``test`` are spoken by the training speakers with disjoint sentence sets;
``test_unseen`` by held-out speakers (voice and mouth appearance never seen in training), again with
sentences of no other split. The viseme ceiling (``viseme_ceiling.py``) of every split is in the manifest.
Deterministic in ``seed``; reused when ``manifest.json`` matches the parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from core.speech.corpus import SPEAKERS
from core.speech.espeak import Synthesizer

from .corpus import SAMPLE_RATE, _synth_16k, write_av_pair
from .grid_words import SLOTS, VOCABULARY, draw_sentences, spoken_text
from .render import make_speaker
from .viseme_ceiling import ceiling_wer, viseme_classes, word_visemes_for_voice

__all__ = ["GRID_SIZES", "GRID_SPLITS", "GRID_NAME", "grid_corpus_params", "build_grid_corpus"]

_VERSION = 2   # 2: letter "a" spoken "eh" (v1 spoke "ay", which espeak-ng reads as "aye", the sound of "i")
GRID_NAME = "grid_av"
GRID_SPLITS = ("train", "val", "test", "test_unseen")
# (train, val, test, test_unseen, babble) utterance counts
GRID_SIZES = {"tiny": (12, 4, 4, 4, 4), "small": (300, 40, 60, 40, 8), "quick": (600, 60, 120, 120, 16),
              "full": (3000, 200, 400, 400, 32)}   # small: the benchmark's quick suite


def grid_corpus_params(size: str = "quick", seed: int = 0, *, num_speakers: int = 6, heldout_speakers: int = 2,
                       frame_size: int = 88, rate_jitter: int = 15, coarticulation: float = 1.0) -> dict:
    """Validated parameters identifying a build."""
    if size not in GRID_SIZES:
        raise ValueError(f"size={size!r}; valid choices: {sorted(GRID_SIZES)}")
    if num_speakers < 1 or heldout_speakers < 1 or num_speakers + heldout_speakers > len(SPEAKERS):
        raise ValueError(f"num_speakers={num_speakers}, heldout_speakers={heldout_speakers}: each >= 1 and together "
                         f"<= {len(SPEAKERS)}")
    if not 16 <= frame_size <= 256:
        raise ValueError(f"frame_size={frame_size} must be in [16, 256] pixels")
    return {"version": _VERSION, "kind": "grid", "size": size, "counts": list(GRID_SIZES[size]), "seed": int(seed),
            "num_speakers": int(num_speakers), "heldout_speakers": int(heldout_speakers),
            "frame_size": int(frame_size), "rate_jitter": int(rate_jitter), "coarticulation": float(coarticulation)}


def build_grid_corpus(root: str | os.PathLike, size: str = "quick", seed: int = 0, *, progress=None, **kw) -> Path:
    """Build (or reuse) the corpus; returns its dataset root. ``kw``: see :func:`grid_corpus_params`."""
    params = grid_corpus_params(size, seed, **kw)
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    out = Path(root) / f"grid_av-{size}-s{seed}-{key}"
    manifest = out / "manifest.json"
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()).get("params") == params:
                return out
        except json.JSONDecodeError:
            pass
    if out.exists():
        shutil.rmtree(out)
    n_tr, n_va, n_te, n_un, n_bab = params["counts"]
    sents = draw_sentences({"train": n_tr, "val": n_va, "test": n_te, "test_unseen": n_un, "babble": n_bab}, seed)
    ns, nh = params["num_speakers"], params["heldout_speakers"]
    train_spk = list(range(ns))
    heldout_spk = list(range(ns, ns + nh))
    synth = Synthesizer()
    classes = {k: viseme_classes(word_visemes_for_voice(synth, SPEAKERS[k])) for k in train_spk + heldout_spk}
    jobs = [(s, i, t) for s in (*GRID_SPLITS, "babble") for i, t in enumerate(sents[s])]
    it = progress(jobs, total=len(jobs), desc="grid corpus") if progress else jobs
    labels: dict[str, list[str]] = {s: [] for s in GRID_SPLITS}
    utts, per_split = [], {s: ([], []) for s in GRID_SPLITS}
    for split, i, text in it:
        rng = np.random.default_rng([seed, (*GRID_SPLITS, "babble").index(split), i])
        pool = heldout_spk if split == "test_unseen" else train_spk
        k = pool[int(rng.integers(len(pool)))]
        spk = SPEAKERS[k]
        rate = int(np.clip(spk.rate + rng.integers(-params["rate_jitter"], params["rate_jitter"] + 1), 80, 450))
        wav, phonemes = _synth_16k(synth, spoken_text(text), spk, rate, int(rng.integers(2 ** 31)))
        if split == "babble":
            (out / "babble").mkdir(parents=True, exist_ok=True)
            sf.write(out / "babble" / f"babble-{i:04d}.wav", wav, SAMPLE_RATE, subtype="PCM_16")
            continue
        uid = f"{split}-{i:05d}"
        rel, T = write_av_pair(out, GRID_NAME, split, spk.name, uid, wav, phonemes, make_speaker(1000 * seed + k),
                               int(rng.integers(2 ** 31)), params["coarticulation"], params["frame_size"])
        labels[split].append(f"{GRID_NAME},{rel},{T},{text}")
        per_split[split][0].append(text)
        per_split[split][1].append(classes[k])
        utts.append({"id": uid, "split": split, "rel_path": rel, "frames": T, "speaker": spk.name, "rate": rate,
                     "text": text})
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for s in GRID_SPLITS:
        (out / "labels" / f"{s}.csv").write_text("".join(line + "\n" for line in labels[s]))
    ceiling = {s: ceiling_wer(*per_split[s]) for s in GRID_SPLITS}
    ambiguous = {SPEAKERS[k].name: [sorted(w for w, c in slot.items() if c > 1) for slot in cl]
                 for k, cl in classes.items()}
    tmp = manifest.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"params": params, "vocabulary": list(VOCABULARY), "slots": [list(s) for s in SLOTS],
                               "train_speakers": [SPEAKERS[k].name for k in train_spk],
                               "heldout_speakers": [SPEAKERS[k].name for k in heldout_spk],
                               "viseme_ceiling_wer": ceiling, "ambiguous_words": ambiguous, "utterances": utts}))
    os.replace(tmp, manifest)
    return out
