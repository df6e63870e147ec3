"""ResNet-18-style trunks (BasicBlock) in 2D (per video frame) and 1D (raw waveform), widths and depths
from arguments (auto_avsr uses width 64, blocks (2, 2, 2, 2))."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["BasicBlock", "ResNetTrunk"]


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; ``dim`` 1 or 2. (B, C, *L) -> (B, C', *L/stride)."""

    def __init__(self, cin: int, cout: int, stride: int, dim: int, act: str = "relu") -> None:
        super().__init__()
        Conv, BN = (nn.Conv1d, nn.BatchNorm1d) if dim == 1 else (nn.Conv2d, nn.BatchNorm2d)
        self.conv1 = Conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = BN(cout)
        self.conv2 = Conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = BN(cout)
        self.act1 = nn.PReLU(cout) if act == "prelu" else nn.ReLU()
        self.act2 = nn.PReLU(cout) if act == "prelu" else nn.ReLU()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(Conv(cin, cout, 1, stride, bias=False), BN(cout))

    def forward(self, x: Tensor) -> Tensor:
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act2(y + (x if self.down is None else self.down(x)))


class ResNetTrunk(nn.Module):
    """Four stages of BasicBlocks, widths ``width * (1, 2, 4, 8)``, strides (1, 2, 2, 2).

    (B, width, *L) -> (B, 8 * width, *L / 8).
    """

    def __init__(self, width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2), dim: int = 2, act: str = "relu") -> None:
        super().__init__()
        if len(blocks) != 4 or any(b < 1 for b in blocks):
            raise ValueError(f"blocks={tuple(blocks)} must be 4 positive block counts (ResNet-18: (2, 2, 2, 2))")
        if width < 1:
            raise ValueError(f"width={width} must be >= 1")
        layers, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2 ** i
            for j in range(n):
                layers.append(BasicBlock(cin, cout, (1 if i == 0 else 2) if j == 0 else 1, dim, act))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
