"""Conv block of E2ENet: depth shift -> Conv3d (1, 3, 3) -> InstanceNorm3d -> LeakyReLU(0.01)."""
from __future__ import annotations

import torch
from torch import nn

from apps.e2enet.models.depth_shift import DepthShift

__all__ = ["ShiftConvBlock", "StackedBlocks"]


class ShiftConvBlock(nn.Module):
    """(B, Cin, D, H, W) -> (B, Cout, D, H/s, W/s): a 2D-cost kernel that sees 3 (or 5) slices through the shift.

    ``stride`` applies to (D, H, W); the depth stride is taken by the 1-wide depth kernel.
    """

    def __init__(self, cin: int, cout: int, *, shift_groups: int = 3, stride=1):
        super().__init__()
        self.shift = DepthShift(shift_groups)
        self.conv = nn.Conv3d(cin, cout, kernel_size=(1, 3, 3), stride=stride, padding=(0, 1, 1), bias=True)
        self.norm = nn.InstanceNorm3d(cout, eps=1e-5, affine=True)
        self.act = nn.LeakyReLU(0.01, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(self.shift(x))))


class StackedBlocks(nn.Sequential):
    """``n`` ShiftConvBlocks, the first maps cin -> cout (with ``stride``), the rest cout -> cout.
    ``shift_first=False``: the first block does not shift its input (used where that input is the image)."""

    def __init__(self, cin: int, cout: int, n: int, *, shift_groups: int = 3, stride=1, shift_first: bool = True):
        if n < 1:
            raise ValueError(f"a node needs >= 1 conv, got {n}")
        blocks = [ShiftConvBlock(cin, cout, shift_groups=shift_groups if shift_first else 1, stride=stride)]
        blocks += [ShiftConvBlock(cout, cout, shift_groups=shift_groups) for _ in range(n - 1)]
        super().__init__(*blocks)
