"""Per-case segmentation scores in millimetres, with the Decathlon convention for missed and spurious classes.

For each foreground class of one case:

* both prediction and reference empty: the class is absent from the case; Dice / HD95 / ASD are NaN and
  the class is left out of that case's mean (nnU-Net's evaluator does the same);
* reference present, prediction empty (**missed**) or prediction present, reference empty (**spurious**):
  Dice 0 and HD95 = ASD = the worst case, the diagonal of the volume in mm (the largest distance two voxels
  of this image can have). MONAI returns NaN/inf here; dropping those (``nanmean``) would hide a collapsed
  class, so the worst case is written instead and the event is counted;
* otherwise Dice (MONAI ``compute_dice``), HD95 (``compute_hausdorff_distance``, percentile 95) and the
  symmetric average surface distance (``compute_average_surface_distance``), both with ``spacing`` so
  distances are in mm.

A second HD95 column follows the official E2ENet evaluator (nnU-Net v1 ``hausdorff_distance_95`` with
``nan_for_nonexisting=True``, aggregated with ``np.nanmean``): HD95 is NaN whenever the prediction or the
reference is empty (or fills the whole volume), and NaN values are dropped from the means -- a missed class
does not count. ``hd95_nan_dropped_mm`` holds it; it is the convention the paper's HD95 figures are comparable with.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance
from monai.networks.utils import one_hot

__all__ = ["case_scores", "worst_distance_mm", "summarize_cases"]


def worst_distance_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """The diagonal of a volume of ``shape`` voxels of size ``spacing`` (mm)."""
    if len(shape) != len(spacing):
        raise ValueError(f"shape {tuple(shape)} and spacing {tuple(spacing)} differ in length")
    return float(math.sqrt(sum((float(n) * float(s)) ** 2 for n, s in zip(shape, spacing))))


@torch.no_grad()
def case_scores(pred: torch.Tensor, label: torch.Tensor, num_classes: int, spacing: Sequence[float], *,
                distances: bool = True) -> dict:
    """pred, label: (1, X, Y, Z) integer maps; -> per foreground class lists (length num_classes - 1):
    ``dice``, ``hd95_mm``, ``asd_mm``, ``hd95_nan_dropped_mm`` (None when ``distances`` is False), ``status`` in
    {"ok", "missed", "spurious", "absent"}."""
    if pred.shape != label.shape or pred.dim() != 4:
        raise ValueError(f"pred {tuple(pred.shape)} and label {tuple(label.shape)} must both be (1, X, Y, Z)")
    spacing = [float(s) for s in spacing]
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing={spacing} must be three positive voxel sizes in mm")
    worst = worst_distance_mm(pred.shape[1:], spacing)
    p1 = one_hot(pred[None].long().cpu(), num_classes)   # (1, K, X, Y, Z)
    l1 = one_hot(label[None].long().cpu(), num_classes)
    dice = compute_dice(p1, l1, include_background=False, ignore_empty=False)[0].tolist()
    hd = asd = None
    if distances:
        with warnings.catch_warnings():  # empty classes are handled below (worst case / absent)
            warnings.filterwarnings("ignore", message=".*may result in nan/inf distance")
            warnings.filterwarnings("ignore", message=".*always_return_as_numpy", category=FutureWarning)
            hd = compute_hausdorff_distance(p1, l1, include_background=False, percentile=95.0, spacing=spacing)[0].tolist()
            asd = compute_average_surface_distance(p1, l1, include_background=False, symmetric=True, spacing=spacing)[0].tolist()
    status = []
    nan_dropped = list(hd) if distances else None
    for k in range(1, num_classes):
        has_p, has_l = bool(p1[0, k].any()), bool(l1[0, k].any())
        if distances and (not has_p or not has_l or bool(p1[0, k].all()) or bool(l1[0, k].all())):
            nan_dropped[k - 1] = float("nan")   # nnU-Net v1: empty or full prediction / reference -> NaN
        i = k - 1
        if has_p and has_l:
            status.append("ok")
            continue
        st = "absent" if not (has_p or has_l) else ("missed" if has_l else "spurious")
        status.append(st)
        dice[i] = float("nan") if st == "absent" else 0.0
        if distances:
            hd[i] = asd[i] = float("nan") if st == "absent" else worst
    return {"dice": dice, "hd95_mm": hd, "asd_mm": asd, "hd95_nan_dropped_mm": nan_dropped, "status": status,
            "worst_mm": worst}


def summarize_cases(scores: Sequence[dict]) -> dict:
    """Per-case results of :func:`case_scores` -> per-class means over the cases where the class is present
    in the reference or the prediction (NaN for a class absent everywhere), the mean over classes, and the
    counts of missed / spurious class-cases."""
    if not scores:
        raise ValueError("no cases to summarize")
    out: dict = {}
    for key in ("dice", "hd95_mm", "asd_mm", "hd95_nan_dropped_mm"):
        if scores[0].get(key) is None:
            out[key], out[f"mean_{key}"] = None, None
            continue
        a = np.array([s[key] for s in scores], dtype=float)          # (cases, classes)
        with np.errstate(all="ignore"):
            per = [float(np.nanmean(col)) if np.isfinite(col).any() else float("nan") for col in a.T]
        out[key] = per
        fin = [v for v in per if math.isfinite(v)]
        out[f"mean_{key}"] = float(sum(fin) / len(fin)) if fin else float("nan")
    st = [s["status"] for s in scores]
    out["missed"] = sum(x == "missed" for row in st for x in row)
    out["spurious"] = sum(x == "spurious" for row in st for x in row)
    out["missed_per_class"] = [sum(row[k] == "missed" for row in st) for k in range(len(st[0]))]
    return out
