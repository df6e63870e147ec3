"""MONAI transform chains: deterministic preprocessing (cached once) and per-patch random augmentation."""
from __future__ import annotations

from collections.abc import Sequence

from monai import transforms as T

__all__ = ["preprocess_transforms", "augment_transforms", "NORMALIZATIONS", "nonzero"]

NORMALIZATIONS = ("zscore", "ct", "none")


def nonzero(x):
    """(C, X, Y, Z) -> (1, X, Y, Z) bool: voxels non-zero in any channel (CropForeground's ``select_fn``)."""
    return (x != 0).any(0, keepdim=True)


def preprocess_transforms(*, pixdim: Sequence[float] | None = None, normalize: str = "zscore", ct_window=(-175.0, 250.0),
                          with_label: bool = True, crop_foreground: bool = True, min_size: Sequence[int] | None = None) -> T.Compose:
    """Load -> channel first -> RAS -> (resample to ``pixdim``) -> crop to the non-zero region -> intensity
    normalization -> pad.

    The crop runs on the raw intensities, before normalization (nnU-Net's order): after z-scoring, "foreground"
    would mean above-mean intensity and a dark structure at the edge of the volume could be cut off with its
    labels. The region is the bounding box of voxels that are non-zero in any channel (nnU-Net's
    ``create_nonzero_mask``), plus one voxel of margin.
    ``normalize``: "zscore" (per channel, MRI), "ct" (clip to ``ct_window`` and scale to [0, 1]), "none".
    Output dict: ``image`` (C, X, Y, Z) float MetaTensor, ``label`` (1, X, Y, Z).
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r}; valid choices: {', '.join(NORMALIZATIONS)}")
    keys = ["image", "label"] if with_label else ["image"]
    modes = ["bilinear", "nearest"] if with_label else ["bilinear"]
    ts = [T.LoadImaged(keys, image_only=True), T.EnsureChannelFirstd(keys), T.Orientationd(keys, axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S")))]
    if pixdim is not None:
        ts.append(T.Spacingd(keys, pixdim=tuple(float(p) for p in pixdim), mode=modes))
    if crop_foreground:
        ts.append(T.CropForegroundd(keys, source_key="image", select_fn=nonzero, channel_indices=None, allow_smaller=True,
                                    margin=1))
    if normalize == "zscore":
        ts.append(T.NormalizeIntensityd("image", nonzero=False, channel_wise=True))
    elif normalize == "ct":
        ts.append(T.ScaleIntensityRanged("image", a_min=ct_window[0], a_max=ct_window[1], b_min=0.0, b_max=1.0, clip=True))
    if min_size is not None:
        ts.append(T.SpatialPadd(keys, spatial_size=tuple(int(s) for s in min_size)))
    ts.append(T.EnsureTyped(keys, track_meta=True))
    return T.Compose(ts)


def augment_transforms(patch_size: Sequence[int], *, pos: float = 1.0, neg: float = 1.0, flip_prob: float = 0.5,
                       intensity_prob: float = 0.5) -> T.Compose:
    """One random patch per call: pos/neg-balanced crop, flips on every axis, intensity scale and shift."""
    keys = ["image", "label"]
    return T.Compose([
        T.RandCropByPosNegLabeld(keys, label_key="label", spatial_size=tuple(int(s) for s in patch_size), pos=pos, neg=neg,
                                 num_samples=1, image_key=None, allow_smaller=False),
        T.RandFlipd(keys, prob=flip_prob, spatial_axis=0),
        T.RandFlipd(keys, prob=flip_prob, spatial_axis=1),
        T.RandFlipd(keys, prob=flip_prob, spatial_axis=2),
        T.RandScaleIntensityd("image", factors=0.1, prob=intensity_prob),
        T.RandShiftIntensityd("image", offsets=0.1, prob=intensity_prob),
    ])
