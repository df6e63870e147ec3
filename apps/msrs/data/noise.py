"""Acoustic noise mixed at load time: babble (sum of other talkers) or white noise at an SNR in dB."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["NOISE_TYPES", "load_babble_bank", "babble_from_wavs", "make_noise", "mix_at_snr"]

NOISE_TYPES = ("none", "babble", "white")


def load_babble_bank(folder: str | os.PathLike, sample_rate: int = 16000) -> list[np.ndarray]:
    """All ``*.wav`` under ``folder`` as float32 arrays (the talkers babble is made from)."""
    files = sorted(Path(folder).glob("*.wav"))
    if not files:
        raise FileNotFoundError(
            f"no babble wav files in {folder}: put 16 kHz mono wavs of other talkers there (e.g. a few hundred "
            f"LRS3 pretrain utterances), point data.babble_dir at such a folder, or set data.babble_dir=train to "
            f"build babble from the training set's own audio")
    return _read_bank(files, sample_rate)


def babble_from_wavs(paths, sample_rate: int = 16000, *, max_talkers: int = 64, seed: int = 0) -> list[np.ndarray]:
    """A babble bank from ``max_talkers`` wavs drawn (seeded) from ``paths`` (e.g. the training set's audio)."""
    paths = sorted(str(p) for p in paths)
    if not paths:
        raise ValueError("babble_from_wavs needs at least one wav path")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(paths), size=min(max_talkers, len(paths)), replace=False)
    return _read_bank([Path(paths[i]) for i in sorted(pick)], sample_rate)


def _read_bank(files, sample_rate: int) -> list[np.ndarray]:
    bank = []
    for f in files:
        wav, sr = sf.read(str(f), dtype="float32", always_2d=True)
        wav = wav.mean(axis=1)
        if sr != sample_rate:
            raise ValueError(f"{f}: sample rate {sr} Hz, expected {sample_rate} Hz")
        bank.append(wav)
    return bank


def make_noise(kind: str, n: int, rng: np.random.Generator, bank: list[np.ndarray] | None = None,
               talkers: int = 4) -> np.ndarray:
    """``(n,)`` noise of ``kind``: white Gaussian, or the sum of ``talkers`` random stretches of the bank."""
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "babble":
        if not bank:
            raise ValueError("babble noise needs a non-empty babble bank")
        out = np.zeros(n, dtype=np.float32)
        for _ in range(talkers):
            src = bank[int(rng.integers(len(bank)))]
            reps = int(np.ceil((n + len(src)) / len(src)))
            tiled = np.tile(src, reps)
            start = int(rng.integers(len(src)))
            out += tiled[start:start + n]
        return out
    raise ValueError(f"noise kind={kind!r}; valid choices: {NOISE_TYPES}")


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clean + g * noise`` with ``g`` such that 10 log10(P_clean / P_noise') = snr_db; (S,) -> (S,)."""
    if clean.shape != noise.shape:
        raise ValueError(f"clean {clean.shape} and noise {noise.shape} differ in shape")
    pc = float(np.mean(clean ** 2)) + 1e-12
    pn = float(np.mean(noise ** 2)) + 1e-12
    g = np.sqrt(pc / (pn * 10 ** (snr_db / 10)))
    return (clean + g * noise).astype(np.float32)
