"""Restricted depth shift: channel groups moved along depth by {-k..+k} slices with zero fill."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DepthShift", "depth_shift"]


def depth_shift(x: torch.Tensor, groups: int = 3) -> torch.Tensor:
    """(B, C, D, H, W) -> (B, C, D, H, W).

    The channels are split into ``groups`` consecutive chunks (``torch.chunk``; the last may be smaller);
    chunk ``g`` is shifted along depth by ``s = g - groups // 2`` slices: ``out[:, c, d] = x[:, c, d - s]``,
    slices shifted in from outside the volume are zero. ``groups`` must be odd (shifts -k..+k).
    """
    if groups < 1 or groups % 2 == 0:
        raise ValueError(f"groups={groups} must be an odd positive integer (3 gives shifts -1,0,+1; 5 gives -2..+2)")
    if x.dim() != 5:
        raise ValueError(f"depth_shift expects (B, C, D, H, W), got shape {tuple(x.shape)}")
    if groups == 1:
        return x
    pad = groups // 2
    chunks = torch.chunk(x, groups, dim=1)
    out = []
    for g, c in enumerate(chunks):
        s = g - pad
        if s == 0:
            out.append(c)
        elif s > 0:  # out[d] = c[d - s]: zeros at the front
            out.append(F.pad(c[:, :, : c.shape[2] - s], (0, 0, 0, 0, s, 0)) if s < c.shape[2] else torch.zeros_like(c))
        else:
            t = -s
            out.append(F.pad(c[:, :, t:], (0, 0, 0, 0, 0, t)) if t < c.shape[2] else torch.zeros_like(c))
    return torch.cat(out, dim=1)


class DepthShift(nn.Module):
    """Module form of :func:`depth_shift` (no parameters)."""

    def __init__(self, groups: int = 3):
        super().__init__()
        if groups < 1 or groups % 2 == 0:
            raise ValueError(f"shift groups={groups} must be an odd positive integer (e.g. 3 or 5)")
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, D, H, W) -> same
        return depth_shift(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
