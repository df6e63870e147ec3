"""88x88 grayscale mouth-region renderer driven by per-frame mouth shapes (see ``visemes.py``).

Each frame draws skin under a lighting gradient, the outer lips (an ellipse whose width, height and
roundness follow the shape), the dark inner mouth, the upper teeth and the tongue. A ``Speaker``
fixes the appearance (lip size and thickness, skin and lip tone, lighting direction, tilt); the
renderer adds a slow head motion and per-frame jitter from a seeded generator, and a little pixel
noise. Everything is vectorised over frames with numpy; the same inputs and seed give the same frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Speaker", "make_speaker", "render_mouth", "FRAME_SIZE"]

FRAME_SIZE = 88


@dataclass(frozen=True)
class Speaker:
    """Appearance of one talker's mouth region."""

    mouth_width: float = 23.0      # half-width of the lips at rest (px)
    lip_thickness: float = 6.0     # px
    jaw: float = 15.0              # inner-mouth half-height at full opening (px)
    skin: float = 0.62             # skin gray level
    lip: float = 0.38              # lip gray level
    light_x: float = 0.08          # lighting gradient across the frame
    light_y: float = -0.06
    tilt: float = 0.0              # radians
    centre_y: float = 50.0


def make_speaker(seed: int) -> Speaker:
    """A random but plausible appearance, deterministic in ``seed``."""
    r = np.random.default_rng(seed)
    skin = float(r.uniform(0.45, 0.78))
    return Speaker(mouth_width=float(r.uniform(20.0, 27.0)), lip_thickness=float(r.uniform(4.5, 7.5)),
                   jaw=float(r.uniform(12.0, 17.0)), skin=skin, lip=float(skin - r.uniform(0.12, 0.3)),
                   light_x=float(r.uniform(-0.12, 0.12)), light_y=float(r.uniform(-0.1, 0.05)),
                   tilt=float(r.uniform(-0.08, 0.08)), centre_y=float(r.uniform(47.0, 53.0)))


def _soft(d: np.ndarray, sharp: float) -> np.ndarray:
    """Anti-aliased inside-ness of a normalised ellipse distance ``d`` (1 on the border)."""
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) * sharp, -30, 30)))


def _smooth_walk(rng: np.random.Generator, n: int, amp: float, smooth: float) -> np.ndarray:
    steps = rng.normal(0.0, 1.0, size=n + 1).cumsum()
    k = np.exp(-0.5 * (np.arange(-8, 9) / smooth) ** 2)
    walk = np.convolve(np.pad(steps, 8, mode="edge"), k / k.sum(), mode="valid")[:n]
    walk = walk - walk.mean()
    scale = np.abs(walk).max() or 1.0
    return amp * walk / scale


def render_mouth(shapes: np.ndarray, speaker: Speaker, seed: int = 0, *, head_motion: float = 2.0,
                 jitter: float = 0.4, noise: float = 0.015, size: int = FRAME_SIZE) -> np.ndarray:
    """``(T, 5)`` mouth shapes -> ``(T, size, size)`` uint8 grayscale frames."""
    shapes = np.asarray(shapes, dtype=np.float32)
    if shapes.ndim != 2 or shapes.shape[1] != 5:
        raise ValueError(f"shapes must be (T, 5) (opening, width, rounding, teeth, tongue); got {shapes.shape}")
    T = shapes.shape[0]
    if T == 0:
        raise ValueError("shapes has no frames")
    rng = np.random.default_rng(seed)
    opening, width, rounding, teeth, tongue = (np.clip(shapes[:, i], 0, 1)[:, None, None] for i in range(5))
    s = speaker
    dx = _smooth_walk(rng, T, head_motion, 4.0) + rng.normal(0, jitter, T)
    dy = _smooth_walk(rng, T, head_motion * 0.7, 4.0) + rng.normal(0, jitter, T)
    ang = s.tilt + _smooth_walk(rng, T, 0.03, 5.0)
    zoom = 1.0 + _smooth_walk(rng, T, 0.03, 6.0)
    c = size / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    xx, yy = xx[None] - (c + dx[:, None, None]), yy[None] - (s.centre_y * size / 88.0 + dy[:, None, None])
    ca, sa = np.cos(ang)[:, None, None], np.sin(ang)[:, None, None]
    u = (ca * xx + sa * yy) / zoom[:, None, None]     # mouth-aligned coordinates
    v = (-sa * xx + ca * yy) / zoom[:, None, None]
    scale = size / 88.0
    half_w = scale * s.mouth_width * (0.75 + 0.5 * width) * (1.0 - 0.38 * rounding)
    inner_h = scale * (0.3 + s.jaw * opening)
    lip_t = scale * s.lip_thickness * (1.0 + 0.5 * rounding)
    # skin with lighting; a faint chin/cheek shading below the mouth
    img = s.skin + s.light_x * (xx / c) + s.light_y * (yy / c) - 0.05 * np.clip(v / c, 0, 1)
    img = np.broadcast_to(img, (T, size, size)).astype(np.float32).copy()
    outer = _soft(np.sqrt((u / (half_w + 1.0)) ** 2 + (v / (inner_h + lip_t)) ** 2), 6.0)
    img = img * (1 - outer) + s.lip * outer
    # highlight on the lower lip
    low = _soft(np.sqrt((u / (0.5 * half_w)) ** 2 + ((v - inner_h - 0.5 * lip_t) / (0.35 * lip_t + 0.5)) ** 2), 4.0)
    img = img + 0.06 * low * outer
    inner_w = half_w * (0.82 - 0.15 * rounding)
    inner = _soft(np.sqrt((u / inner_w) ** 2 + (v / inner_h) ** 2), 4.0 + 4.0 * (inner_h > 1.0))
    cavity = 0.08 + 0.04 * (1 - opening)
    img = img * (1 - inner) + cavity * inner
    # upper teeth: a bright band hanging from the top of the cavity
    t_h = teeth * np.minimum(inner_h * 1.6, 3.5 * scale) + 1e-3
    tooth = inner * _soft(np.abs(v + inner_h - 0.5 * t_h) / (0.5 * t_h + 0.3), 5.0) * _soft(np.abs(u) / (0.8 * inner_w + 0.1), 5.0)
    img = img * (1 - tooth * teeth) + 0.88 * tooth * teeth
    # tongue: a mid-gray bump at the bottom (or front, for dentals) of the cavity
    g_h = tongue * inner_h * 0.8 + 1e-3
    tong = inner * _soft(np.sqrt((u / (0.55 * inner_w + 0.1)) ** 2 + ((v - inner_h + 0.4 * g_h) / (0.6 * g_h + 0.3)) ** 2), 4.0)
    img = img * (1 - tong * tongue) + 0.5 * tong * tongue
    img = img + rng.normal(0.0, noise, size=img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
