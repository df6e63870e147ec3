"""Embedded speech corpus: espeak-ng speech of grammar sentences, many speakers, noise, 16 kHz, cached.

``build_corpus(root, size)`` writes ``<root>/<name>/{audio/*.flac, manifest.jsonl, params.json}`` and
returns the manifest path. It is rebuilt only when the parameters (or the builder version) change.
Each manifest line::

    {"id", "path" (relative to the manifest), "duration" (s), "text", "speaker", "split",
     "sample_rate", "snr_db" (null if clean), "rate", "pitch",
     "phonemes": [[symbol, start_s, end_s], ...], "words": [[word_index, start_s, end_s], ...]}

Timings are those of the clean synthesized speech (noise does not move them; resampling keeps time).
Sentences of the three splits are disjoint (:func:`core.speech.text.split_sentences`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from core.speech.espeak import Synthesizer
from core.speech.text import split_sentences

__all__ = ["Speaker", "SPEAKERS", "CORPUS_SIZES", "build_corpus", "corpus_params"]

_BUILDER_VERSION = 2

# (train, dev, test) utterance counts per named size
CORPUS_SIZES = {"tiny": (24, 6, 6), "quick": (320, 40, 40), "full": (4000, 400, 400)}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: espeak voice + variant, pitch, pitch range and base rate (words/min)."""

    name: str
    voice: str
    variant: str | None
    pitch: int
    pitch_range: int
    rate: int


def _make_speakers() -> tuple[Speaker, ...]:
    voices = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc"]
    variants = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", None]
    rng = np.random.default_rng(12345)
    out = []
    for i in range(24):
        v = voices[i % len(voices)]
        var = variants[(i * 5) % len(variants)]
        out.append(Speaker(f"spk{i:02d}", v, var, int(rng.integers(30, 71)), int(rng.integers(30, 81)),
                           int(rng.integers(135, 181))))
    return tuple(out)


SPEAKERS = _make_speakers()


def corpus_params(size: str | int = "quick", seed: int = 0, sample_rate: int = 16000, *,
                  snr_db: tuple[float, float] = (5.0, 30.0), noise_prob: float = 0.8,
                  rate_jitter: int = 20, audio_format: str = "flac") -> dict:
    """The parameter dict that identifies a corpus (validated); ``size`` is a name or a train count."""
    if isinstance(size, str):
        if size not in CORPUS_SIZES:
            raise ValueError(f"size={size!r}; valid choices: {sorted(CORPUS_SIZES)} or a positive int")
        counts = CORPUS_SIZES[size]
    elif isinstance(size, int) and not isinstance(size, bool) and size > 0:
        counts = (size, max(1, size // 8), max(1, size // 8))
    else:
        raise ValueError(f"size={size!r} must be one of {sorted(CORPUS_SIZES)} or a positive int")
    if audio_format not in ("flac", "wav"):
        raise ValueError(f"audio_format={audio_format!r}; valid choices: flac, wav")
    if not 0.0 <= noise_prob <= 1.0:
        raise ValueError(f"noise_prob={noise_prob} must be in [0, 1]")
    if snr_db[0] > snr_db[1]:
        raise ValueError(f"snr_db={snr_db} must be (low, high) with low <= high")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate} must be positive")
    return {"version": _BUILDER_VERSION, "counts": list(counts), "seed": int(seed), "sample_rate": int(sample_rate),
            "snr_db": [float(snr_db[0]), float(snr_db[1])], "noise_prob": float(noise_prob),
            "rate_jitter": int(rate_jitter), "audio_format": audio_format}


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White or pink-ish (one-pole low-passed) noise, unit RMS. (n,)"""
    w = rng.standard_normal(n).astype(np.float32)
    if rng.random() < 0.5:
        w = _one_pole(w, float(rng.uniform(0.5, 0.95)))
    return w / (np.sqrt(np.mean(w ** 2)) + 1e-8)


def _one_pole(x: np.ndarray, a: float) -> np.ndarray:
    from scipy.signal import lfilter

    return lfilter([1.0 - a], [1.0, -a], x).astype(np.float32)


def build_corpus(root: str | os.PathLike, size: str | int = "quick", seed: int = 0, sample_rate: int = 16000, *,
                 snr_db: tuple[float, float] = (5.0, 30.0), noise_prob: float = 0.8, rate_jitter: int = 20,
                 audio_format: str = "flac", name: str | None = None, progress=None) -> Path:
    """Build (or reuse) the embedded corpus under ``root``; returns the manifest path.

    ``progress`` is an optional callable wrapping an iterable (e.g. ``core.training.progress``).
    """
    params = corpus_params(size, seed, sample_rate, snr_db=snr_db, noise_prob=noise_prob,
                           rate_jitter=rate_jitter, audio_format=audio_format)
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    out_dir = Path(root) / (name or f"espeak-{size}-s{seed}-{key}")
    manifest = out_dir / "manifest.jsonl"
    params_file = out_dir / "params.json"
    if manifest.exists() and params_file.exists():
        if json.loads(params_file.read_text()) == params:
            return manifest
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    n_train, n_dev, n_test = params["counts"]
    sents = split_sentences(n_train, n_dev, n_test, seed)
    synth = Synthesizer()
    jobs = [(split, i, text) for split in ("train", "dev", "test") for i, text in enumerate(sents[split])]
    it = progress(jobs, total=len(jobs), desc="corpus") if progress else jobs
    lines = []
    for split, i, text in it:
        uid = f"{split}-{i:05d}"
        rng = np.random.default_rng([seed, {"train": 0, "dev": 1, "test": 2}[split], i])
        spk = SPEAKERS[int(rng.integers(len(SPEAKERS)))]
        rate = int(np.clip(spk.rate + rng.integers(-rate_jitter, rate_jitter + 1), 80, 450))
        res = synth.synth(text, voice=spk.voice, variant=spk.variant, rate=rate, pitch=spk.pitch,
                          pitch_range=spk.pitch_range, seed=int(rng.integers(2 ** 31)))
        wav = torch.from_numpy(res.wav)
        if res.sample_rate != sample_rate:
            wav = torchaudio.functional.resample(wav, res.sample_rate, sample_rate)
        wav = wav.numpy()
        snr = None
        if rng.random() < noise_prob:
            snr = float(rng.uniform(*snr_db))
            sig_rms = float(np.sqrt(np.mean(wav ** 2))) + 1e-8
            wav = wav + _noise(rng, len(wav)) * sig_rms / (10 ** (snr / 20))
        peak = float(np.abs(wav).max())
        if peak > 0.99:
            wav = wav * (0.99 / peak)
        rel = f"audio/{uid}.{audio_format}"
        sf.write(out_dir / rel, wav.astype(np.float32), sample_rate, subtype="PCM_16")
        lines.append({"id": uid, "path": rel, "duration": round(len(wav) / sample_rate, 4), "text": text,
                      "speaker": spk.name, "split": split, "sample_rate": sample_rate,
                      "snr_db": None if snr is None else round(snr, 2), "rate": rate, "pitch": spk.pitch,
                      "phonemes": [[p, round(s, 4), round(e, 4)] for p, s, e in res.phonemes],
                      "words": [[w, round(s, 4), round(e, 4)] for w, s, e in res.words]})
    tmp = manifest.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.replace(tmp, manifest)
    params_file.write_text(json.dumps(params, sort_keys=True))
    return manifest
