"""Sliding-window inference (0.5 overlap, Gaussian weights), mirror TTA, Dice (MONAI ``compute_dice``) / HD95 per class."""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from monai.inferers import sliding_window_inference
from monai.metrics import compute_dice, compute_hausdorff_distance
from monai.networks.utils import one_hot

__all__ = ["predict_volume", "evaluate_cases"]


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


@torch.no_grad()
def evaluate_cases(model, cases: Sequence[dict], patch_size: Sequence[int], num_classes: int, *, hd95: bool = False, **kw) -> dict:
    """Dice (and HD95 in voxels) per foreground class over ``cases`` (dicts with image (C, *S), label (1, *S)).

    Returns ``{"dice": [per class 1..K-1], "mean_dice": float, "hd95": [...]|None, "preds": [(1, *S) argmax]}``.
    """
    # functional compute_dice, not DiceMetric: the latter all-gathers across ranks, and only rank 0 evaluates
    dices, hds, preds = [], [], []
    for c in cases:
        prob = predict_volume(model, torch.as_tensor(c["image"])[None], patch_size, **kw)
        pred = prob.argmax(1, keepdim=True).cpu()
        lab = torch.as_tensor(c["label"])[None].long().cpu()
        p1, l1 = one_hot(pred, num_classes), one_hot(lab, num_classes)
        dices.append(compute_dice(p1, l1, include_background=False, ignore_empty=False))
        if hd95:
            hds.append(compute_hausdorff_distance(p1, l1, include_background=False, percentile=95.0))
        preds.append(pred[0])
    dice = torch.cat(dices).float().mean(0).tolist()
    out = {"dice": dice, "mean_dice": float(sum(dice) / len(dice)), "hd95": None, "preds": preds}
    if hd95:
        h = torch.cat(hds).float()
        out["hd95"] = torch.nanmean(torch.where(torch.isinf(h), torch.nan, h), 0).tolist()
    return out
