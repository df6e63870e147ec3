"""Restricted depth shift: channel groups moved along depth by {-k..+k} slices with zero fill.

Two forms with the same values:

* :func:`depth_shift` / :class:`DepthShift`: one tensor in, one shifted tensor out (an autograd function whose
  backward is the opposite shift: the shift is linear, nothing is saved);
* :func:`shift_cat` inside :class:`ShiftConv3d` (``apps.e2enet.models.blocks``): the concatenation of a grid
  node's inputs and the shift written in one pass into one buffer, consumed by the (1, 3, 3) convolution and
  freed; the convolution's backward rebuilds it from the parts (see ``blocks``).

Groups follow ``torch.chunk(x, groups, dim=1)`` (chunk size ``ceil(C / groups)``; fewer chunks when C is small:
16 channels in 5 groups are 4 chunks of 4, 1 channel is one chunk), and chunk ``g`` moves by
``g - groups // 2`` slices -- the official code's ``torch_shift`` (``zip(chunks, range(-pad, pad + 1))``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DepthShift", "depth_shift", "shift_cat", "unshift_split", "shift_groups_of", "check_groups"]


def check_groups(groups: int) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or groups % 2 == 0:
        raise ValueError(f"shift groups={groups!r} must be an odd positive integer (3 gives shifts -1,0,+1; 5 gives -2..+2)")
    return groups


def shift_groups_of(channels: int, groups: int) -> list[tuple[int, int, int]]:
    """``[(first channel, end channel, shift)]`` of ``torch.chunk(range(channels), groups)``; shift ``g - groups//2``."""
    size = -(-channels // groups)
    out = []
    for g in range(groups):
        a, b = g * size, min(channels, (g + 1) * size)
        if a >= b:
            break
        out.append((a, b, g - groups // 2))
    return out


def _copy_shifted(dst: torch.Tensor, src: torch.Tensor, s: int) -> None:
    """``dst[:, :, d] = src[:, :, d - s]`` along dim 2, zero where ``d - s`` is outside."""
    D = src.shape[2]
    if s == 0:
        dst.copy_(src)
    elif abs(s) >= D:
        dst.zero_()
    elif s > 0:
        dst[:, :, s:].copy_(src[:, :, : D - s])
        dst[:, :, :s].zero_()
    else:
        t = -s
        dst[:, :, : D - t].copy_(src[:, :, t:])
        dst[:, :, D - t:].zero_()


def shift_cat(parts: Sequence[torch.Tensor], groups: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``depth_shift(torch.cat(parts, 1), groups)`` written in one pass into one new contiguous tensor (B, sum C, D, ...)."""
    p0 = parts[0]
    C = sum(int(p.shape[1]) for p in parts)
    out = torch.empty((p0.shape[0], C, *p0.shape[2:]), dtype=dtype or p0.dtype, device=p0.device)
    offs, o = [], 0
    for p in parts:
        offs.append(o)
        o += int(p.shape[1])
    for a, b, s in shift_groups_of(C, groups):
        for p, o in zip(parts, offs):
            lo, hi = max(a, o), min(b, o + int(p.shape[1]))
            if lo < hi:
                _copy_shifted(out[:, lo:hi], p[:, lo - o: hi - o], s)
    return out


def unshift_split(grad: torch.Tensor, channels: Sequence[int], groups: int,
                  needed: Sequence[bool] | None = None) -> list[torch.Tensor | None]:
    """The adjoint of :func:`shift_cat`: the gradient of the shifted concatenation -> one gradient per part
    (each group moved back by its shift, zero where it came from outside). ``needed[i]`` False gives None."""
    C = sum(int(c) for c in channels)
    outs: list[torch.Tensor | None] = []
    o = 0
    bounds = shift_groups_of(C, groups)
    for k, c in enumerate(channels):
        c = int(c)
        if needed is not None and not needed[k]:
            outs.append(None)
            o += c
            continue
        g = torch.empty((grad.shape[0], c, *grad.shape[2:]), dtype=grad.dtype, device=grad.device)
        for a, b, s in bounds:
            lo, hi = max(a, o), min(b, o + c)
            if lo < hi:
                _copy_shifted(g[:, lo - o: hi - o], grad[:, lo:hi], -s)
        outs.append(g)
        o += c
    return outs


class _DepthShiftFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, groups: int) -> torch.Tensor:
        ctx.groups = groups
        return shift_cat([x], groups)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return unshift_split(grad, [grad.shape[1]], ctx.groups)[0], None


def depth_shift(x: torch.Tensor, groups: int = 3) -> torch.Tensor:
    """(B, C, D, H, W) -> (B, C, D, H, W).

    The channels are split into ``groups`` consecutive chunks (``torch.chunk``; the last may be smaller);
    chunk ``g`` is shifted along depth by ``s = g - groups // 2`` slices: ``out[:, c, d] = x[:, c, d - s]``,
    slices shifted in from outside the volume are zero. ``groups`` must be odd (shifts -k..+k).
    """
    check_groups(groups)
    if x.dim() != 5:
        raise ValueError(f"depth_shift expects (B, C, D, H, W), got shape {tuple(x.shape)}")
    if groups == 1:
        return x
    return _DepthShiftFn.apply(x, groups)


class DepthShift(nn.Module):
    """Module form of :func:`depth_shift` (no parameters)."""

    def __init__(self, groups: int = 3):
        super().__init__()
        self.groups = check_groups(groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, D, H, W) -> same
        return depth_shift(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
