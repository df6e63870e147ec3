"""Conv block of E2ENet: depth shift -> Conv3d (1, 3, 3) -> InstanceNorm3d -> LeakyReLU(0.01).

What the training step holds for its backward pass decides E2ENet's memory (a UNet++ grid has seven convolutions
at full resolution where a UNet has four), so the first convolution of a grid node owns the node's fusion:
:class:`ShiftConv3d` takes the previous node at its level, the deeper node with the transposed convolution that
upsamples it and the shallower node with its max-pooling, and computes ``conv(depth_shift(cat(prev, up(deeper),
pool(shallower))))`` holding only its three inputs (which their own layers hold anyway) and the weights. Its
backward recomputes the upsampling, the pooling, the concatenation and the shift (cheap next to the convolution)
and runs the convolution's backward once. Without gradients (inference, FLOP counting) the plain modules run.

``fast=False`` is the reference path: ``torch.cat`` + :func:`depth_shift` + ``nn.Conv3d`` + ``nn.InstanceNorm3d``.
The fast path gives bitwise-equal convolution outputs and gradients; its instance norm is computed by
``F.group_norm`` with one group per channel (the same statistics; 4x faster on CPU than ``F.instance_norm``,
which reshapes to a batch norm and copies), equal within float rounding (max |diff| ~1e-6 on unit-scale
activations, the same error against a float64 reference). Measurements: README, "Speed and memory".
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from apps.e2enet.models.depth_shift import check_groups, depth_shift, shift_cat, unshift_split

__all__ = ["ShiftConv3d", "ShiftConvBlock", "StackedBlocks", "InstanceNorm3d", "up_matmul", "pool_max"]


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    try:
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
    except (TypeError, RuntimeError):   # a device type autocast does not know
        return None
    return None


def _cast(t, dt):
    return t if (t is None or dt is None) else t.to(dt)


def up_matmul(x: torch.Tensor, weight: torch.Tensor, stride: tuple) -> torch.Tensor:
    """``F.conv_transpose3d(x, weight, stride=stride)`` for kernel == stride (no overlap, no bias) as one batched
    matmul and one shuffle copy: (B, Ci, d, h, w) -> (B, Co, d*kd, h*kh, w*kw). On CPU about 3x faster than
    mkldnn's transposed convolution (which also copies its output to the contiguous layout)."""
    B, C, d, h, w = x.shape
    kd, kh, kw = stride
    co = weight.shape[1]
    y = torch.matmul(weight.reshape(C, co * kd * kh * kw).t(), x.reshape(B, C, d * h * w))
    return (y.view(B, co, kd, kh, kw, d, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
            .reshape(B, co, d * kd, h * kh, w * kw))


def pool_max(x: torch.Tensor, kernel: tuple) -> torch.Tensor:
    """``F.max_pool3d(x, kernel, kernel)`` values (sizes divisible by the kernel) by reductions over a view, one
    axis at a time (the same maxima, no argmax indices: 2-3x faster on CPU)."""
    B, C, D, H, W = x.shape
    kd, kh, kw = kernel
    v = x.reshape(B, C, D // kd, kd, H // kh, kh, W // kw, kw)
    for dim, k in ((7, kw), (5, kh), (3, kd)):
        v = v.amax(dim) if k > 1 else v.squeeze(dim)
    return v


class _NodeConvFn(torch.autograd.Function):
    """conv3d(shift_cat([prev, conv_transpose3d(deeper, up_w), max_pool3d(shallower)]), w, b).

    Saves prev, deeper, shallower and the weights; the upsampling, pooling, concatenation and shift are
    recomputed in backward. ``deeper`` / ``shallower`` may be None (no such part)."""

    @staticmethod
    def forward(ctx, cfg, weight, bias, up_w, prev, deeper, shallower):
        dev = prev.device.type
        dt = _autocast_dtype(dev)   # under autocast the convolutions run in dt, as nn.Conv3d would
        with torch.autocast(dev, enabled=False) if dt is not None else contextlib.nullcontext():
            parts = [prev]
            if deeper is not None:
                parts.append(up_matmul(_cast(deeper, dt), _cast(up_w, dt), cfg["up_stride"]))
            if shallower is not None:
                parts.append(pool_max(shallower, cfg["pool"]))
            x = shift_cat(parts, cfg["groups"], dtype=dt or prev.dtype)
            del parts
            y = F.conv3d(x, _cast(weight, dt), _cast(bias, dt), cfg["stride"], cfg["padding"], cfg["dilation"])
        ctx.cfg, ctx.dt = cfg, dt
        ctx.has_bias, ctx.has_deeper, ctx.has_shallower = bias is not None, deeper is not None, shallower is not None
        ctx.save_for_backward(weight, up_w, prev, deeper, shallower)
        return y

    @staticmethod
    def backward(ctx, grad):
        weight, up_w, prev, deeper, shallower = ctx.saved_tensors
        cfg, dt = ctx.cfg, ctx.dt
        need = ctx.needs_input_grad   # (cfg, weight, bias, up_w, prev, deeper, shallower)
        dev = prev.device.type
        aten = torch.ops.aten
        g_prev = g_deeper = g_upw = g_shallower = None
        with torch.autocast(dev, enabled=False) if dt is not None else contextlib.nullcontext():
            dd, uw = _cast(deeper, dt), _cast(up_w, dt)
            parts, idx = [prev], None
            if ctx.has_deeper:
                parts.append(up_matmul(dd, uw, cfg["up_stride"]))
            if ctx.has_shallower:
                k = list(cfg["pool"])
                pooled, idx = aten.max_pool3d_with_indices(shallower, k, k, [0, 0, 0], [1, 1, 1], False)
                parts.append(pooled)
            chans = [int(p.shape[1]) for p in parts]
            x = shift_cat(parts, cfg["groups"], dtype=dt or prev.dtype)
            del parts
            w = _cast(weight, dt)
            need_x = need[4] or need[5] or need[6] or need[3]
            gx, gw, gb = aten.convolution_backward(
                grad.to(x.dtype), x, w, [w.shape[0]] if ctx.has_bias else None, list(cfg["stride"]), list(cfg["padding"]),
                list(cfg["dilation"]), False, [0, 0, 0], 1, [need_x, need[1], ctx.has_bias and need[2]])
            del x
            if need_x:
                gparts = unshift_split(gx, chans, cfg["groups"])
                del gx
                if need[4]:
                    g_prev = gparts[0].to(prev.dtype)
                k = 1
                if ctx.has_deeper:
                    if need[5] or need[3]:
                        s = list(cfg["up_stride"])
                        g_deeper, g_upw, _ = aten.convolution_backward(
                            gparts[k].to(dd.dtype), dd, uw, None, s, [0, 0, 0], [1, 1, 1], True, [0, 0, 0], 1,
                            [need[5], need[3], False])
                    k += 1
                if ctx.has_shallower and need[6]:
                    kk = list(cfg["pool"])
                    g_shallower = aten.max_pool3d_with_indices_backward(gparts[k].to(shallower.dtype), shallower, kk, kk,
                                                                        [0, 0, 0], [1, 1, 1], False, idx)
        if gw is not None:
            gw = gw.to(weight.dtype)
        if gb is not None:
            gb = gb.to(weight.dtype)
        if g_deeper is not None:
            g_deeper = g_deeper.to(deeper.dtype)
        if g_upw is not None:
            g_upw = g_upw.to(up_w.dtype)
        return None, gw, gb, g_upw, g_prev, g_deeper, g_shallower


class ShiftConv3d(nn.Conv3d):
    """Conv3d (1, 3, 3) of the depth-shifted input: ``forward(x)`` = ``conv(depth_shift(x, shift_groups))``.

    In a grid node, ``forward(prev, up=(ConvTranspose3d, deeper), pool=(MaxPool3d, shallower))`` is
    ``conv(depth_shift(cat(prev, up(deeper), pool(shallower))))``; while gradients are recorded (``fast``) it
    runs as one autograd function holding only ``prev``, ``deeper``, ``shallower`` for the backward pass."""

    def __init__(self, cin: int, cout: int, *, shift_groups: int = 3, stride=1, fast: bool = True):
        super().__init__(cin, cout, kernel_size=(1, 3, 3), stride=stride, padding=(0, 1, 1), bias=True)
        self.shift_groups = check_groups(shift_groups)
        self.fast = bool(fast)

    def forward(self, x: torch.Tensor, up=None, pool=None) -> torch.Tensor:
        deeper = up[1] if up is not None else None
        shallower = pool[1] if pool is not None else None
        trivial = self.shift_groups == 1 and up is None and pool is None
        grads = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in
                                                (x, deeper, shallower, self.weight, up[0].weight if up else None))
        if self.fast and grads and not trivial:
            upm, poolm = (up[0] if up else None), (pool[0] if pool else None)
            if upm is not None and (upm.bias is not None or tuple(upm.kernel_size) != tuple(upm.stride)
                                    or any(upm.padding) or any(upm.output_padding)):
                raise ValueError("ShiftConv3d's fused path expects a bias-free ConvTranspose3d with kernel == stride")
            cfg = {"groups": self.shift_groups, "stride": self.stride, "padding": self.padding, "dilation": self.dilation,
                   "up_stride": tuple(upm.stride) if upm is not None else None,
                   "pool": tuple(_triple(poolm.kernel_size)) if poolm is not None else None}
            if poolm is not None and tuple(_triple(poolm.stride)) != cfg["pool"]:
                raise ValueError("ShiftConv3d's fused path expects a MaxPool3d with stride == kernel")
            return _NodeConvFn.apply(cfg, self.weight, self.bias, upm.weight if upm is not None else None, x, deeper,
                                     shallower)
        parts = [x]
        if up is not None:
            parts.append(up[0](deeper))
        if pool is not None:
            parts.append(pool[0](shallower))
        h = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return super().forward(depth_shift(h, self.shift_groups))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", shift_groups={self.shift_groups}" + ("" if self.fast else ", fast=False")


def _triple(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


class InstanceNorm3d(nn.InstanceNorm3d):
    """``nn.InstanceNorm3d(affine=True)`` (same parameters and state-dict keys) computed as ``F.group_norm`` with
    one group per channel when ``fast`` (the same normalization; equal within float rounding)."""

    def __init__(self, channels: int, eps: float = 1e-5, *, fast: bool = True):
        super().__init__(channels, eps=eps, affine=True)
        self.fast = bool(fast)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return super().forward(x)
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


class ShiftConvBlock(nn.Module):
    """(B, Cin, D, H, W) -> (B, Cout, D, H/s, W/s): a 2D-cost kernel that sees 3 (or 5) slices through the shift.
    ``stride`` applies to (D, H, W); the depth stride is taken by the 1-wide depth kernel."""

    def __init__(self, cin: int, cout: int, *, shift_groups: int = 3, stride=1, fast: bool = True):
        super().__init__()
        self.conv = ShiftConv3d(cin, cout, shift_groups=shift_groups, stride=stride, fast=fast)
        self.norm = InstanceNorm3d(cout, eps=1e-5, fast=fast)
        self.act = nn.LeakyReLU(0.01, inplace=True)

    @property
    def shift_groups(self) -> int:
        return self.conv.shift_groups

    def forward(self, x: torch.Tensor, up=None, pool=None) -> torch.Tensor:
        return self.act(self.norm(self.conv(x, up, pool)))


class StackedBlocks(nn.Sequential):
    """``n`` ShiftConvBlocks, the first maps cin -> cout (with ``stride``; in a grid node it also takes the
    node's ``up`` / ``pool`` inputs), the rest cout -> cout. ``first_shift_groups`` (default ``shift_groups``) is
    the first block's: 1 where that input is the image and the image is not to be shifted."""

    def __init__(self, cin: int, cout: int, n: int, *, shift_groups: int = 3, stride=1,
                 first_shift_groups: int | None = None, fast: bool = True):
        if n < 1:
            raise ValueError(f"a node needs >= 1 conv, got {n}")
        g0 = shift_groups if first_shift_groups is None else first_shift_groups
        blocks = [ShiftConvBlock(cin, cout, shift_groups=g0, stride=stride, fast=fast)]
        blocks += [ShiftConvBlock(cout, cout, shift_groups=shift_groups, fast=fast) for _ in range(n - 1)]
        super().__init__(*blocks)

    def forward(self, x, up=None, pool=None):
        for k, b in enumerate(self):
            x = b(x, up, pool) if k == 0 else b(x)
        return x

    def set_fast(self, fast: bool) -> None:
        for b in self:
            b.conv.fast = b.norm.fast = bool(fast)
