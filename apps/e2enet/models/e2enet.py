"""E2ENet: UNet++-like grid of shift-conv nodes with deep supervision (arXiv 2312.04727).

Node ``x[i][j]`` lives at level ``i`` (resolution / 2**i, ``channels[i]`` features). Column 0 is the
encoder; a node with ``j >= 1`` fuses (concatenates) the previous node at its level ``x[i][j-1]``,
the transposed-conv upsampling of the deeper ``x[i+1][j-1]`` and the max-pooled shallower
``x[i-1][j-1]``, then runs ``StackedBlocks``. The last diagonal (``i + j = L - 1``) is the output
path; deep supervision heads sit on its ``deep_supervision`` shallowest nodes. The fusion convs
(every conv in a node with ``j >= 1`` and the transposed convs feeding them) are what DSFF sparsifies (:func:`fusion_targets`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from apps.e2enet.models.blocks import StackedBlocks

__all__ = ["E2ENet", "PAPER_CHANNELS", "fusion_targets", "patch_divisor"]

PAPER_CHANNELS = (48, 96, 192, 320, 320, 320)


def patch_divisor(levels: int, depth_pool_levels: int | None = None, depth_axis: int = 4) -> tuple[int, int, int]:
    """(X, Y, Z) multiples a patch must be for a network of ``levels`` levels whose first ``depth_pool_levels``
    downsamplings also halve depth (None: all): ``2 ** (levels - 1)`` in-plane, ``2 ** depth_pool_levels`` along the
    depth axis. E2ENet and the DynUNet baseline share this pooling plan."""
    dp = levels - 1 if depth_pool_levels is None else int(depth_pool_levels)
    out = [2 ** (levels - 1)] * 3
    out[depth_axis - 2] = 2 ** dp
    return tuple(out)


class E2ENet(nn.Module):
    """(B, in_channels, *S) -> logits (B, num_classes, *S), or in training with deep supervision a list
    ``[(B, K, *S), (B, K, *S/2), ...]`` (full resolution first).

    Args:
        channels: features per level (default the paper's 48, 96, 192, 320, 320, 320).
        encoder_convs: convs per encoder level; inner_convs / output_convs: convs per grid node off / on
            the output diagonal (official code: 2 / 1 / 2).
        shift_groups: 3 (shifts -1, 0, +1) or 5 (-2..+2, the official code's ``shift_size = 5``).
        shift_input: also shift the input image before the first conv, as the official code does (it shifts
            before every (1, 3, 3) conv: a 1-channel image is one chunk and moves by ``-(groups // 2)``
            slices, i.e. 2 slices with 5 groups). False (default, the paper's figure): the first conv sees
            the image unshifted.
        fast: each node's upsampling, pooling, concatenation and shift run inside its first conv and are
            recomputed in backward instead of held (``blocks.ShiftConv3d``), instance norms run as group norms;
            False: the reference path (``torch.cat`` + ``depth_shift`` + ``nn.Conv3d`` + ``nn.InstanceNorm3d``).
        depth_axis: which spatial axis (2, 3 or 4 of the input) is "depth" (the axis the (1, 3, 3) kernel
            does not convolve and the shift moves along). MONAI's RAS volumes have z at axis 4.
        depth_pool_levels: how many downsamplings also halve depth (default: all).
        deep_supervision: number of output heads (1 = no deep supervision).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, channels: Sequence[int] = PAPER_CHANNELS, *,
                 encoder_convs: int = 2, inner_convs: int = 1, output_convs: int = 2, shift_groups: int = 3,
                 shift_input: bool = False, depth_axis: int = 4, depth_pool_levels: int | None = None,
                 deep_supervision: int = 4, fast: bool = True):
        super().__init__()
        channels = [int(c) for c in channels]
        if len(channels) < 2 or any(c < 1 for c in channels):
            raise ValueError(f"channels={channels} needs >= 2 positive level widths")
        if depth_axis not in (2, 3, 4):
            raise ValueError(f"depth_axis={depth_axis} must be 2, 3 or 4 (a spatial axis of (B, C, X, Y, Z))")
        L = len(channels)
        if not 1 <= deep_supervision <= L - 1:
            raise ValueError(f"deep_supervision={deep_supervision} must be in [1, {L - 1}] for {L} levels")
        if in_channels < 1 or num_classes < 2:
            raise ValueError(f"in_channels={in_channels} must be >= 1 and num_classes={num_classes} >= 2")
        dp = L - 1 if depth_pool_levels is None else int(depth_pool_levels)
        if not 0 <= dp <= L - 1:
            raise ValueError(f"depth_pool_levels={depth_pool_levels} must be in [0, {L - 1}]")
        self.channels, self.levels, self.depth_axis = channels, L, depth_axis
        self.num_classes, self.deep_supervision = num_classes, deep_supervision
        # stride into level i (i >= 1), as (D, H, W)
        self.strides = [None] + [(2 if i <= dp else 1, 2, 2) for i in range(1, L)]
        kw = dict(shift_groups=shift_groups, fast=fast)
        self.shift_input = bool(shift_input)
        self.encoder = nn.ModuleList(
            [StackedBlocks(in_channels, channels[0], encoder_convs, first_shift_groups=shift_groups if shift_input else 1, **kw)]
            + [StackedBlocks(channels[i - 1], channels[i], encoder_convs, stride=self.strides[i], **kw) for i in range(1, L)]
        )
        self.nodes, self.ups, self.pools = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        for j in range(1, L):
            for i in range(0, L - j):
                key = f"{i}_{j}"
                s = self.strides[i + 1]
                self.ups[key] = nn.ConvTranspose3d(channels[i + 1], channels[i], kernel_size=s, stride=s, bias=False)
                cin = channels[i] * 2
                if i > 0:
                    self.pools[key] = nn.MaxPool3d(self.strides[i], self.strides[i])
                    cin += channels[i - 1]
                n = output_convs if i + j == L - 1 else inner_convs
                self.nodes[key] = StackedBlocks(cin, channels[i], n, **kw)
        self.heads = nn.ModuleList([nn.Conv3d(channels[i], num_classes, 1, bias=False) for i in range(deep_supervision)])
        self.apply(_he_init)

    def set_fast(self, fast: bool) -> None:
        """Switch every block between the fast path and the reference path (``fast`` in the class docstring)."""
        for m in self.modules():
            if isinstance(m, StackedBlocks):
                m.set_fast(fast)

    @property
    def divisor(self) -> tuple[int, int, int]:
        """Patch size along (X, Y, Z) must be a multiple of this (:func:`patch_divisor`)."""
        return patch_divisor(self.levels, sum(s[0] == 2 for s in self.strides[1:]), self.depth_axis)

    def _to_dhw(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, X, Y, Z) -> (B, C, D, H, W)
        if self.depth_axis == 2:
            return x
        other = [a for a in (2, 3, 4) if a != self.depth_axis]
        return x.permute(0, 1, self.depth_axis, *other)

    def _from_dhw(self, x: torch.Tensor) -> torch.Tensor:  # inverse of _to_dhw
        if self.depth_axis == 2:
            return x
        other = [a for a in (2, 3, 4) if a != self.depth_axis]
        perm = [0, 1, self.depth_axis, *other]
        inv = [perm.index(k) for k in range(5)]
        return x.permute(*inv)

    def forward(self, x: torch.Tensor):
        """(B, Cin, X, Y, Z) -> (B, K, X, Y, Z) or a list of deep-supervision logits in training."""
        if x.dim() != 5:
            raise ValueError(f"E2ENet expects (B, C, X, Y, Z), got {tuple(x.shape)}")
        x = self._to_dhw(x)
        L = self.levels
        grid: dict[tuple[int, int], torch.Tensor] = {}
        h = x
        for i in range(L):
            h = self.encoder[i](h)
            grid[(i, 0)] = h
        # build by column so each node's inputs exist; a column is dropped once the next one is built (only the
        # output diagonal, which feeds the heads, is kept: this matters for inference, where nothing is saved)
        head_in = {L - 1: grid[(L - 1, 0)]}
        for j in range(1, L):
            for i in range(0, L - j):
                key = f"{i}_{j}"
                pool = (self.pools[key], grid[(i - 1, j - 1)]) if i > 0 else None
                # cat(previous, up(deeper), pool(shallower)), shifted, inside the node's first conv
                grid[(i, j)] = self.nodes[key](grid[(i, j - 1)], up=(self.ups[key], grid[(i + 1, j - 1)]), pool=pool)
                if i + j == L - 1:
                    head_in[i] = grid[(i, j)]
            for i in range(0, L - j + 1):
                del grid[(i, j - 1)]
        outs = [self._from_dhw(self.heads[i](head_in[i])) for i in range(self.deep_supervision)]
        if self.training and self.deep_supervision > 1:
            return outs
        return outs[0]


def fusion_targets(model: E2ENet) -> list[str]:
    """Names of the fusion layers DSFF masks: every Conv3d inside a grid node (j >= 1) and every
    transposed-conv upsampling feeding one. With the paper's widths these hold 18.07M of 23.90M
    weights, which reproduces the paper's 11.25M / 9.45M / 7.64M non-zero at S = 0.7 / 0.8 / 0.9."""
    names = [f"nodes.{k}.{n}" for k, node in model.nodes.items() for n, m in node.named_modules() if isinstance(m, nn.Conv3d)]
    return names + [f"ups.{k}" for k in model.ups]


def _he_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
        nn.init.kaiming_normal_(m.weight, a=0.01)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
