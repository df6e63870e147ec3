"""Front-ends as in auto_avsr: video (3D conv 5x7x7 stem + 2D ResNet per frame) and audio (1D ResNet on the
raw 16 kHz waveform, downsampled 640x to 25 fps), and the audio-visual fusion MLP."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .resnet import ResNetTrunk

__all__ = ["VideoFrontend", "AudioFrontend", "FusionMLP"]


class VideoFrontend(nn.Module):
    """(B, T, H, W) normalised gray frames -> (B, T, 8 * width).

    Stem: Conv3d(1, width, stem_kernel (auto_avsr: 5x7x7), stride (1, 2, 2)) + BN + PReLU +
    MaxPool3d((1, 3, 3), (1, 2, 2));
    then a 2D ResNet trunk on every frame and global average pooling.
    """

    def __init__(self, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2),
                 stem_kernel: Sequence[int] = (5, 7, 7)) -> None:
        super().__init__()
        k = tuple(int(x) for x in stem_kernel)
        if len(k) != 3 or any(x < 1 or x % 2 == 0 for x in k):
            raise ValueError(f"stem_kernel={tuple(stem_kernel)} must be 3 odd sizes (time, height, width); "
                             f"auto_avsr: (5, 7, 7)")
        self.stem = nn.Sequential(
            nn.Conv3d(1, width, k, (1, 2, 2), tuple(x // 2 for x in k), bias=False), nn.BatchNorm3d(width),
            nn.PReLU(width),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        self.trunk = ResNetTrunk(width, blocks, dim=2, act="prelu")
        self.out_dim = self.trunk.out_channels

    def forward(self, video: Tensor) -> Tensor:
        if video.dim() != 4:
            raise ValueError(f"video must be (B, T, H, W); got shape {tuple(video.shape)}")
        B, T = video.shape[:2]
        x = self.stem(video.unsqueeze(1))                 # (B, C, T, H', W')
        x = x.transpose(1, 2).flatten(0, 1)               # (B*T, C, H', W')
        x = self.trunk(x).mean(dim=(2, 3))                # (B*T, D)
        return x.view(B, T, -1)


class AudioFrontend(nn.Module):
    """(B, S) raw 16 kHz waveform -> (B, S / 640, 8 * width) (25 fps).

    Stem Conv1d(1, width, 80, stride 4, padding 38) + BN + PReLU (S -> S/4), 1D ResNet trunk (/8),
    average pooling over 20 steps (/20).
    """

    SAMPLES_PER_FRAME = 640

    def __init__(self, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(1, width, 80, 4, 38, bias=False), nn.BatchNorm1d(width), nn.PReLU(width))
        self.trunk = ResNetTrunk(width, blocks, dim=1, act="prelu")
        self.pool = nn.AvgPool1d(20, 20)
        self.out_dim = self.trunk.out_channels

    def forward(self, audio: Tensor) -> Tensor:
        if audio.dim() != 2:
            raise ValueError(f"audio must be (B, S); got shape {tuple(audio.shape)}")
        S = audio.shape[1]
        if S % self.SAMPLES_PER_FRAME:
            raise ValueError(f"audio length {S} must be a multiple of {self.SAMPLES_PER_FRAME} samples (25 fps at 16 kHz)")
        x = self.trunk(self.stem(audio.unsqueeze(1)))     # (B, D, S/32)
        return self.pool(x).transpose(1, 2)               # (B, S/640, D)


class FusionMLP(nn.Module):
    """Concatenate per-frame video and audio features and mix them: (B, T, Dv), (B, T, Da) -> (B, T, out)."""

    def __init__(self, video_dim: int, audio_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(video_dim + audio_dim, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_dim))
        self.out_dim = out_dim

    def forward(self, v: Tensor, a: Tensor) -> Tensor:
        T = min(v.shape[1], a.shape[1])
        return self.net(torch.cat([v[:, :T], a[:, :T]], dim=-1))
