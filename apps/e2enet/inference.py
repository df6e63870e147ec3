"""Sliding-window inference (0.5 overlap, Gaussian weights), mirror TTA, and evaluation over cases (Dice, HD95 / ASD in mm)."""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from monai.inferers import sliding_window_inference

from apps.e2enet.seg_metrics import case_scores, summarize_cases

__all__ = ["predict_volume", "evaluate_cases", "voxel_spacing"]


@torch.no_grad()
def predict_volume(model, image: torch.Tensor, patch_size: Sequence[int], *, overlap: float = 0.5, mode: str = "gaussian",
                   sw_batch_size: int = 2, tta: bool = False, tta_axes: Sequence[int] = (0, 1, 2), amp: bool = False) -> torch.Tensor:
    """(1, C, X, Y, Z) -> softmax probabilities (1, K, X, Y, Z). With ``tta`` averages over every mirror
    combination of ``tta_axes`` (spatial axes; 3 axes -> 8 passes, as nnU-Net)."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    image = torch.as_tensor(image).to(dev).float()

    def run(x):
        with torch.autocast(dev.type, enabled=amp and dev.type == "cuda"):
            out = sliding_window_inference(x, tuple(patch_size), sw_batch_size, model, overlap=overlap, mode=mode)
        return torch.softmax(torch.as_tensor(out).float(), 1)

    flips = [()]
    if tta:
        axes = [a + 2 for a in tta_axes]
        flips = [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]
    prob = None
    for f in flips:
        x = torch.flip(image, f) if f else image
        p = run(x)
        p = torch.flip(p, f) if f else p
        prob = p if prob is None else prob + p
    model.train(was)
    return prob / len(flips)


def voxel_spacing(image) -> list[float]:
    """Voxel size in mm along (X, Y, Z) of a MetaTensor (C, X, Y, Z): the column norms of its affine."""
    aff = getattr(image, "affine", None)
    if aff is None:
        raise ValueError("the image carries no affine (a MetaTensor from the preprocessing is needed for distances in mm)")
    a = torch.as_tensor(aff, dtype=torch.float64)[:3, :3]
    return a.pow(2).sum(0).sqrt().tolist()


@torch.no_grad()
def evaluate_cases(model, cases: Sequence[dict], patch_size: Sequence[int], num_classes: int, *, hd95: bool = False, **kw) -> dict:
    """Dice, HD95 and average surface distance (mm, from each case's voxel spacing) per foreground class over
    ``cases`` (dicts with image (C, *S) MetaTensor, label (1, *S), optional ``spacing``); missed and spurious
    classes score the worst case and are counted (``apps.e2enet.seg_metrics``).

    Returns ``{"dice": [per class 1..K-1], "mean_dice", "hd95": [mm]|None, "mean_hd95", "asd": [mm]|None,
    "mean_asd", "hd95_nan_dropped": [mm]|None, "mean_hd95_nan_dropped", "missed", "spurious", "missed_per_class",
    "per_case": [...], "preds": [(1, *S) argmax]}`` (``hd95_nan_dropped``: the official evaluator's convention,
    see ``apps.e2enet.seg_metrics``).
    """
    scores, preds = [], []
    for c in cases:
        prob = predict_volume(model, torch.as_tensor(c["image"])[None], patch_size, **kw)
        pred = prob.argmax(1).cpu()                         # (1, *S)
        lab = torch.as_tensor(c["label"]).long().cpu()      # (1, *S)
        spacing = c.get("spacing") or voxel_spacing(c["image"])
        sc = case_scores(pred, lab, num_classes, spacing, distances=hd95)
        sc["name"] = c.get("name")
        scores.append(sc)
        preds.append(pred)
    s = summarize_cases(scores)
    return {"dice": s["dice"], "mean_dice": s["mean_dice"], "hd95": s["hd95_mm"], "mean_hd95": s["mean_hd95_mm"],
            "asd": s["asd_mm"], "mean_asd": s["mean_asd_mm"], "hd95_nan_dropped": s["hd95_nan_dropped_mm"],
            "mean_hd95_nan_dropped": s["mean_hd95_nan_dropped_mm"], "missed": s["missed"], "spurious": s["spurious"],
            "missed_per_class": s["missed_per_class"], "per_case": scores, "preds": preds}
