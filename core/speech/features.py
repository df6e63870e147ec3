"""Acoustic features: log-mel filterbank (window/hop in ms), global mean/variance normalisation, SpecAugment."""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torchaudio
from torch import Tensor, nn

__all__ = ["LogMel", "GlobalCMVN", "SpecAugment", "num_frames"]


def num_frames(num_samples: int, hop_length: int = 160) -> int:
    """Frames LogMel gives for a waveform of ``num_samples`` (centered STFT)."""
    return num_samples // hop_length + 1


class LogMel(nn.Module):
    """(S,) or (B, S) waveform -> (T, n_mels) or (B, T, n_mels) log-mel.

    Window and hop are defined in milliseconds (``win_ms=25``, ``hop_ms=10``), so the same features (one frame
    per 10 ms, 25 ms analysis window) come out at any sample rate: 400/160 samples at 16 kHz, 200/80 at 8 kHz.
    ``n_fft`` defaults to the next power of two >= the window. Explicit ``win_length``/``hop_length`` (samples)
    override the millisecond values (kept for callers that used them).
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 80, win_length: int | None = None,
                 hop_length: int | None = None, n_fft: int | None = None, *, win_ms: float = 25.0,
                 hop_ms: float = 10.0) -> None:
        super().__init__()
        if sample_rate <= 0 or n_mels <= 0:
            raise ValueError(f"sample_rate={sample_rate} and n_mels={n_mels} must be positive")
        win_length = win_length or int(round(sample_rate * win_ms / 1000))
        hop_length = hop_length or int(round(sample_rate * hop_ms / 1000))
        if hop_length < 1 or win_length < hop_length:
            raise ValueError(f"window {win_length} / hop {hop_length} samples at {sample_rate} Hz: need 1 <= hop <= window")
        n_fft = n_fft or 1 << (win_length - 1).bit_length()
        self.sample_rate, self.n_mels, self.hop_length, self.win_length = sample_rate, n_mels, hop_length, win_length
        self.hop_ms = 1000.0 * hop_length / sample_rate
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, win_length=win_length,
                                                        hop_length=hop_length, n_mels=n_mels, power=2.0)

    def forward(self, wav: Tensor) -> Tensor:
        if wav.dim() not in (1, 2):
            raise ValueError(f"waveform must be (S,) or (B, S), got shape {tuple(wav.shape)}")
        spec = self.mel(wav.float())                    # (..., n_mels, T)
        return torch.log(spec + 1e-6).transpose(-1, -2)  # (..., T, n_mels)


class GlobalCMVN(nn.Module):
    """(..., D) -> (..., D): subtract the training-set mean and divide by its std (per dimension)."""

    def __init__(self, dim: int = 80) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def fit(self, feats: Iterable[Tensor]) -> "GlobalCMVN":
        """Accumulate statistics over an iterable of (T, D) feature matrices (float64 sums)."""
        s = s2 = None
        n = 0
        for f in feats:
            f = f.reshape(-1, f.shape[-1]).double()
            if f.shape[-1] != self.mean.numel():
                raise ValueError(f"feature dim {f.shape[-1]} != CMVN dim {self.mean.numel()}")
            s = f.sum(0) if s is None else s + f.sum(0)
            s2 = (f * f).sum(0) if s2 is None else s2 + (f * f).sum(0)
            n += f.shape[0]
        if n == 0:
            raise ValueError("GlobalCMVN.fit got no frames")
        mean = s / n
        var = (s2 / n - mean * mean).clamp_min(1e-10)
        self.mean.copy_(mean.float())
        self.std.copy_(var.sqrt().float().clamp_min(1e-5))
        self.count.fill_(n)
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class SpecAugment(nn.Module):
    """(B, T, F) -> (B, T, F) with frequency and time masks (torchaudio), only in training mode.

    Time masks are at most ``time_mask_ratio`` of each utterance's valid length (``lengths``) wide.
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 27, time_masks: int = 2, time_width: int = 40,
                 time_mask_ratio: float = 0.05) -> None:
        super().__init__()
        self.freq_masks, self.time_masks = freq_masks, time_masks
        self.freq = torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
        self.time_width, self.time_mask_ratio = time_width, time_mask_ratio

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if not self.training:
            return x
        y = x.transpose(1, 2).unsqueeze(1)              # (B, 1, F, T)
        for _ in range(self.freq_masks):
            y = self.freq(y)
        y = y.squeeze(1).transpose(1, 2).clone()        # (B, T, F)
        if self.time_masks:
            B, T, _ = y.shape
            lens = lengths if lengths is not None else torch.full((B,), T)
            for b in range(B):
                w_max = min(self.time_width, int(self.time_mask_ratio * int(lens[b])))
                for _ in range(self.time_masks):
                    if w_max < 1:
                        break
                    w = int(torch.randint(0, w_max + 1, ()))
                    t0 = int(torch.randint(0, max(1, int(lens[b]) - w), ()))
                    y[b, t0:t0 + w] = 0.0
        return y
