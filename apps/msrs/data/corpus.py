"""Embedded audio-visual corpus in the layout of LRS3 as preprocessed by auto_avsr.

``build_av_corpus(root, size)`` synthesizes speech with ``core.speech`` (espeak-ng, phoneme timings),
resamples it to 16 kHz, renders the 88x88 grayscale mouth region at 25 fps from the viseme sounding
at each frame (``visemes.py``, ``render.py``) and writes, under ``<root>/<name>/``::

    msrs_av/msrs_av_video/<split>/<speaker>/<uid>.mp4   # libx264, gray, 25 fps, T frames
    msrs_av/msrs_av_video/<split>/<speaker>/<uid>.wav   # 16 kHz mono PCM16, exactly T * 640 samples
    msrs_av/msrs_av_text/<split>/<speaker>/<uid>.txt    # transcript (as auto_avsr's preprocessing)
    labels/<split>.csv      # auto_avsr label list: "msrs_av,<rel_path.mp4>,<T>,<token ids space-separated>"
    babble/*.wav            # extra utterances (sentences disjoint from every split) for babble noise
    manifest.json           # parameters, counts, tokenizer alphabet, per-utterance speaker/rate/duration

so ``AVDataset(<root>/<name>, "labels/train.csv")`` reads it exactly as it reads LRS3. Splits
(train / val / test) have disjoint sentences; speakers are shared (seen-speaker setting). Noise is
not baked in: the loader mixes babble or white noise at chosen SNRs. The build is deterministic in
``seed``; it is reused when ``manifest.json`` matches the parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from core.speech.corpus import SPEAKERS
from core.speech.espeak import Synthesizer
from core.speech.text import ALPHABET, split_sentences
from core.speech.tokenizer import CharTokenizer

from .render import make_speaker, render_mouth
from .video_io import write_video
from .visemes import shapes_for

__all__ = ["AV_SIZES", "build_av_corpus", "av_corpus_params", "DATASET_NAME", "FPS", "SAMPLE_RATE",
           "SAMPLES_PER_FRAME"]

_VERSION = 1
DATASET_NAME = "msrs_av"
FPS = 25
SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS       # 640, auto_avsr's rate_ratio
SPLITS = ("train", "val", "test")
# (train, val, test, babble) utterance counts
AV_SIZES = {"tiny": (8, 3, 3, 4), "quick": (240, 40, 40, 12), "full": (2000, 200, 200, 24)}


def av_corpus_params(size: str = "quick", seed: int = 0, *, max_words: int = 8, num_speakers: int = 8,
                     rate_jitter: int = 20, coarticulation: float = 1.0) -> dict:
    """Validated parameters identifying a corpus build."""
    if size not in AV_SIZES:
        raise ValueError(f"size={size!r}; valid choices: {sorted(AV_SIZES)}")
    if not 1 <= num_speakers <= len(SPEAKERS):
        raise ValueError(f"num_speakers={num_speakers} must be in [1, {len(SPEAKERS)}]")
    if max_words < 1:
        raise ValueError(f"max_words={max_words} must be >= 1")
    return {"version": _VERSION, "size": size, "counts": list(AV_SIZES[size]), "seed": int(seed),
            "max_words": int(max_words), "num_speakers": int(num_speakers), "rate_jitter": int(rate_jitter),
            "coarticulation": float(coarticulation), "alphabet": ALPHABET}


def _synth_16k(synth: Synthesizer, text: str, spk, rate: int, seed: int):
    res = synth.synth(text, voice=spk.voice, variant=spk.variant, rate=rate, pitch=spk.pitch,
                      pitch_range=spk.pitch_range, seed=seed)
    wav = torchaudio.functional.resample(torch.from_numpy(res.wav), res.sample_rate, SAMPLE_RATE).numpy()
    return wav, res.phonemes


def write_av_pair(out: Path, dataset: str, split: str, speaker: str, uid: str, wav: np.ndarray, phonemes,
                  mouth, render_seed: int, coarticulation: float, frame_size: int | None = None) -> tuple[str, int]:
    """One utterance in auto_avsr's layout: ``(n,)`` 16 kHz speech + phoneme events -> ``<dataset>_video/<split>/
    <speaker>/<uid>.mp4`` (25 fps mouth frames rendered from the visemes) and the ``.wav`` beside it, trimmed or padded
    to whole video frames and peak-limited. Returns (path relative to ``out/<dataset>``, number of frames)."""
    T = max(1, int(round(len(wav) / SAMPLES_PER_FRAME)))
    wav = np.pad(wav, (0, max(0, T * SAMPLES_PER_FRAME - len(wav))))[:T * SAMPLES_PER_FRAME]
    peak = float(np.abs(wav).max())
    if peak > 0.99:
        wav = wav * (0.99 / peak)
    _, shapes = shapes_for(phonemes, T, FPS, coarticulation)
    frames = render_mouth(shapes, mouth, seed=render_seed, **({} if frame_size is None else {"size": frame_size}))
    rel = f"{dataset}_video/{split}/{speaker}/{uid}.mp4"
    media = out / dataset / rel
    media.parent.mkdir(parents=True, exist_ok=True)
    write_video(media, frames, FPS)
    sf.write(media.with_suffix(".wav"), wav.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return rel, T


def build_av_corpus(root: str | os.PathLike, size: str = "quick", seed: int = 0, *, name: str | None = None,
                    progress=None, **kw) -> Path:
    """Build (or reuse) the corpus; returns its dataset root (pass it to ``AVDataset``).

    ``kw``: ``max_words``, ``num_speakers``, ``rate_jitter``, ``coarticulation`` (see :func:`av_corpus_params`).
    ``progress`` optionally wraps an iterable (e.g. ``core.training.progress``).
    """
    params = av_corpus_params(size, seed, **kw)
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    out = Path(root) / (name or f"msrs_av-{size}-s{seed}-{key}")
    manifest = out / "manifest.json"
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()).get("params") == params:
                return out
        except json.JSONDecodeError:
            pass
    if out.exists():
        shutil.rmtree(out)
    n_train, n_val, n_test, n_babble = params["counts"]
    sents = split_sentences(n_train, n_val, n_test + n_babble, seed, max_words=params["max_words"])
    sents = {"train": sents["train"], "val": sents["dev"], "test": sents["test"][:n_test],
             "babble": sents["test"][n_test:]}
    speakers = SPEAKERS[:params["num_speakers"]]
    synth = Synthesizer()
    tok = CharTokenizer()
    jobs = [(s, i, t) for s in (*SPLITS, "babble") for i, t in enumerate(sents[s])]
    it = progress(jobs, total=len(jobs), desc="av corpus") if progress else jobs
    labels = {s: [] for s in SPLITS}
    utts = []
    for split, i, text in it:
        rng = np.random.default_rng([seed, (*SPLITS, "babble").index(split), i])
        k = int(rng.integers(len(speakers)))
        spk = speakers[k]
        rate = int(np.clip(spk.rate + rng.integers(-params["rate_jitter"], params["rate_jitter"] + 1), 80, 450))
        wav, phonemes = _synth_16k(synth, text, spk, rate, int(rng.integers(2 ** 31)))
        if split == "babble":
            (out / "babble").mkdir(parents=True, exist_ok=True)
            sf.write(out / "babble" / f"babble-{i:04d}.wav", wav, SAMPLE_RATE, subtype="PCM_16")
            continue
        uid = f"{split}-{i:05d}"
        rel, T = write_av_pair(out, DATASET_NAME, split, spk.name, uid, wav, phonemes, make_speaker(1000 * seed + k),
                               int(rng.integers(2 ** 31)), params["coarticulation"])
        txt = out / DATASET_NAME / f"{DATASET_NAME}_text/{split}/{spk.name}/{uid}.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text(text + "\n")
        ids = " ".join(str(t) for t in tok.encode(text))
        labels[split].append(f"{DATASET_NAME},{rel},{T},{ids}")
        utts.append({"id": uid, "split": split, "rel_path": rel, "frames": T, "speaker": spk.name, "rate": rate,
                     "text": text})
    (out / "labels").mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        (out / "labels" / f"{s}.csv").write_text("".join(line + "\n" for line in labels[s]))
    tmp = manifest.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"params": params, "tokenizer": tok.state_dict(), "utterances": utts}))
    os.replace(tmp, manifest)
    return out
