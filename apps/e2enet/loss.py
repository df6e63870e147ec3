"""Deep-supervision DiceCE loss: heads weighted 8:4:2:1 (normalized), labels downsampled by nearest neighbour."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from torch import nn

__all__ = ["DeepSupervisionLoss", "ds_weights"]


def ds_weights(n: int) -> list[float]:
    """n heads (full resolution first) -> weights 2^(n-1) : ... : 1, normalized to sum 1 (n=4: 8:4:2:1 / 15)."""
    if n < 1:
        raise ValueError(f"need >= 1 head, got {n}")
    w = [2.0 ** (n - 1 - i) for i in range(n)]
    s = sum(w)
    return [x / s for x in w]


class DeepSupervisionLoss(nn.Module):
    """outputs: (B, K, *S) | list of (B, K, *S_i) | MONAI DynUNet stack (B, H, K, *S); label (B, 1, *S) -> scalar.

    ``include_background``: Dice over class 0 too (MONAI's default) or over the foreground classes only (nnU-Net);
    ``batch_dice``: one Dice over the whole batch per class (nnU-Net 3d_fullres) instead of per sample.
    """

    def __init__(self, include_background: bool = True, batch_dice: bool = False):
        super().__init__()
        self.dice_ce = DiceCELoss(to_onehot_y=True, softmax=True, include_background=include_background, batch=batch_dice,
                                  smooth_nr=1e-5, smooth_dr=1e-5)

    def forward(self, outputs, label: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor) and outputs.dim() == label.dim() + 1:
            outputs = list(outputs.unbind(1))
        if isinstance(outputs, torch.Tensor):
            outputs = [outputs]
        total = 0.0
        for w, out in zip(ds_weights(len(outputs)), outputs):
            lab = label if out.shape[2:] == label.shape[2:] else F.interpolate(label.float(), size=out.shape[2:], mode="nearest")
            total = total + w * self.dice_ce(out.float(), lab)
        return total
