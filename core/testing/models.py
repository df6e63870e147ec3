"""Tiny models that tests and microbenchmarks of every part reuse."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["TinyCNN", "TinyTransformer"]


class TinyCNN(nn.Module):
    """(B, C, H, W) -> (B, num_classes); two 3x3 convs, global pooling, linear head."""

    def __init__(self, in_channels: int = 3, width: int = 16, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, stride=2)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv3(x))
        return self.head(x.mean(dim=(2, 3)))


class TinyTransformer(nn.Module):
    """(B, T) token ids -> (B, T, vocab) logits; a small pre-norm encoder."""

    def __init__(self, vocab: int = 64, d_model: int = 32, heads: int = 4, layers: int = 2, ffn: int = 64, max_len: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d_model))
        layer = nn.TransformerEncoderLayer(d_model, heads, ffn, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[:, : tokens.shape[1]]
        return self.head(self.encoder(x))
