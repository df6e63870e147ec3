"""Baseline built from MONAI: DynUNet configured like nnU-Net 3d_fullres."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["nnunet_dynunet", "NNUNET_CHANNELS"]

NNUNET_CHANNELS = (32, 64, 128, 256, 320, 320)


def nnunet_dynunet(in_channels: int, num_classes: int, channels: Sequence[int] = NNUNET_CHANNELS, *,
                   deep_supervision: int = 4, depth_pool_levels: int | None = None, depth_axis: int = 4) -> nn.Module:
    """(B, Cin, X, Y, Z) -> (B, K, X, Y, Z) (training: (B, 1 + ds, K, X, Y, Z) stacked heads, MONAI's layout).

    nnU-Net-like plan: 3x3x3 convs, two per stage, strided-conv downsampling by 2, transposed-conv
    upsampling, InstanceNorm + LeakyReLU(0.01), ``channels`` per level (nnU-Net: 32..320 over 6 levels).
    """
    from monai.networks.nets import DynUNet

    L = len(channels)
    dp = L - 1 if depth_pool_levels is None else depth_pool_levels
    strides = [[1, 1, 1]]
    for i in range(1, L):
        s = [2, 2, 2]
        if i > dp:
            s[depth_axis - 2] = 1
        strides.append(s)
    return DynUNet(3, in_channels, num_classes, kernel_size=[[3, 3, 3]] * L, strides=strides, upsample_kernel_size=strides[1:],
                   filters=list(channels), norm_name=("INSTANCE", {"affine": True}),
                   act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
                   deep_supervision=deep_supervision > 1, deep_supr_num=max(1, deep_supervision - 1))
