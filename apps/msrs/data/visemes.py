"""Phoneme -> viseme table (many-to-one) and the mouth shape of each viseme.

Phonemes are espeak-ng mnemonics as returned by ``core.speech`` (``"p"``, ``"aI"``, ``"@2"``, ...).
Several phonemes share one viseme (``p b m`` all close the lips), so lip reading is ambiguous as in
real life. A viseme is drawn from five shape parameters in [0, 1]:
``opening`` (jaw / inner-lip height), ``width`` (mouth corners apart), ``rounding`` (lips pushed
forward, narrower and rounder), ``teeth`` (upper teeth visible), ``tongue`` (tongue tip visible).
"""
from __future__ import annotations

import numpy as np

__all__ = ["VISEMES", "SHAPE_PARAMS", "VISEME_SHAPES", "viseme_of", "shapes_for"]

SHAPE_PARAMS = ("opening", "width", "rounding", "teeth", "tongue")

# name: (opening, width, rounding, teeth, tongue)
_SHAPES: dict[str, tuple[float, float, float, float, float]] = {
    "sil":      (0.05, 0.55, 0.10, 0.0, 0.0),   # rest, lips together
    "bilabial": (0.00, 0.50, 0.15, 0.0, 0.0),   # p b m: lips pressed
    "labdent":  (0.10, 0.55, 0.00, 1.0, 0.0),   # f v: upper teeth on lower lip
    "dental":   (0.25, 0.60, 0.00, 0.8, 1.0),   # T D: tongue between teeth
    "alveolar": (0.28, 0.60, 0.05, 0.6, 0.4),   # t d n l
    "sibilant": (0.12, 0.75, 0.00, 1.0, 0.0),   # s z: teeth close together, spread
    "postalv":  (0.22, 0.45, 0.65, 0.7, 0.0),   # S Z tS dZ: protruded
    "velar":    (0.40, 0.55, 0.10, 0.3, 0.2),   # k g N h x
    "round_c":  (0.15, 0.35, 0.95, 0.0, 0.0),   # w r: small rounded opening
    "spread_v": (0.30, 0.90, 0.00, 0.7, 0.1),   # i: I i j e
    "mid_v":    (0.55, 0.70, 0.10, 0.5, 0.2),   # E eI 3: @ e@
    "open_v":   (0.95, 0.60, 0.05, 0.4, 0.3),   # a A: aI aU V a#
    "round_v":  (0.45, 0.40, 0.90, 0.1, 0.0),   # u: U oU O: 0 OI
}
VISEMES: tuple[str, ...] = tuple(_SHAPES)
VISEME_SHAPES = np.array([_SHAPES[v] for v in VISEMES], dtype=np.float32)   # (V, 5)

_EXACT: dict[str, str] = {}
for _v, _phs in {
    "bilabial": "p b m m-",
    "labdent": "f v",
    "dental": "T D",
    "alveolar": "t d n l n- l- t# d# l^ ?",
    "sibilant": "s z",
    "postalv": "S Z tS dZ",
    "velar": "k g N h x k# g#",
    "round_c": "w r r- R W",
    "spread_v": "i: I i j I2 I# i@ i@3 e",
    "mid_v": "E eI 3: 3 @ @2 @5 e@ E2 @L 3:r E@",
    "open_v": "a A: aI aU V a# aa A@ aI@ aI3 aU@ A",
    "round_v": "u: U oU O: 0 OI O o@ O@ U@ u oU# 0#",
}.items():
    for _p in _phs.split():
        _EXACT[_p] = _v
_FIRST = {"p": "bilabial", "b": "bilabial", "m": "bilabial", "f": "labdent", "v": "labdent", "T": "dental",
          "D": "dental", "t": "alveolar", "d": "alveolar", "n": "alveolar", "l": "alveolar", "s": "sibilant",
          "z": "sibilant", "S": "postalv", "Z": "postalv", "k": "velar", "g": "velar", "N": "velar", "h": "velar",
          "x": "velar", "w": "round_c", "r": "round_c", "j": "spread_v", "i": "spread_v", "I": "spread_v",
          "e": "spread_v", "E": "mid_v", "3": "mid_v", "@": "mid_v", "a": "open_v", "A": "open_v", "V": "open_v",
          "u": "round_v", "U": "round_v", "o": "round_v", "O": "round_v", "0": "round_v"}


def viseme_of(phoneme: str) -> int:
    """Index into ``VISEMES`` of an espeak phoneme mnemonic; pauses and unknown symbols -> ``sil``
    (unknown ones are matched on their first letter first)."""
    p = phoneme.strip().lstrip("',%=")
    if p in _EXACT:
        return VISEMES.index(_EXACT[p])
    if p and p[0] in _FIRST:
        return VISEMES.index(_FIRST[p[0]])
    return VISEMES.index("sil")


def shapes_for(phonemes: list[tuple[str, float, float]], num_frames: int, fps: float = 25.0,
               coarticulation: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Viseme ids and smoothed mouth shapes per video frame.

    ``phonemes``: (symbol, start_s, end_s) spans; a frame takes the viseme of the phoneme sounding at
    its centre ``(i + 0.5) / fps`` (``sil`` between phonemes). ``coarticulation`` is the std (in frames)
    of the Gaussian that blends neighbouring targets (0 = none).
    Returns ``(ids (T,), shapes (T, 5))``.
    """
    if num_frames <= 0:
        raise ValueError(f"num_frames={num_frames} must be > 0")
    centres = (np.arange(num_frames) + 0.5) / fps
    ids = np.full(num_frames, VISEMES.index("sil"), dtype=np.int64)
    for sym, start, end in phonemes:
        sel = (centres >= start) & (centres < end)
        ids[sel] = viseme_of(sym)
    shapes = VISEME_SHAPES[ids]
    if coarticulation > 0:
        r = int(np.ceil(3 * coarticulation))
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / coarticulation) ** 2)
        k /= k.sum()
        padded = np.pad(shapes, ((r, r), (0, 0)), mode="edge")
        shapes = np.stack([np.convolve(padded[:, j], k, mode="valid") for j in range(shapes.shape[1])], axis=1)
    return ids, shapes.astype(np.float32)
