"""Acoustic noise mixed at load time: babble (sum of other talkers) or white noise at an SNR in dB."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["NOISE_TYPES", "load_babble_bank", "make_noise", "mix_at_snr"]

NOISE_TYPES = ("none", "babble", "white")


def load_babble_bank(folder: str | os.PathLike, sample_rate: int = 16000) -> list[np.ndarray]:
    """All ``*.wav`` under ``folder`` as float32 arrays (the talkers babble is made from)."""
    files = sorted(Path(folder).glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"no babble wav files in {folder}")
    bank = []
    for f in files:
        wav, sr = sf.read(str(f), dtype="float32")
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
