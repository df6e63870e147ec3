"""Embedded datasets written as Decathlon folders, so one loader serves them and real data.

``mni``: the MNI152 2009a symmetric T1 template that the nilearn wheel ships
(``nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``, 197x233x189 at 1 mm) and its
grey- and white-matter probability maps from the same folder. The volumes are block-averaged to
``voxel_mm`` (default 3 mm), the label is the argmax of (1 - gm - wm, gm, wm) -> 0 background
(also CSF, skull, outside), 1 grey matter, 2 white matter (no CSF map ships in the wheel). The volume is cut
into four disjoint quadrants in the (x, y) plane (left/right x anterior/posterior); each quadrant is one case
with its own correct affine. Cases ``mni_q0``..``mni_q2`` train, ``mni_q3`` (right posterior) validates,
so train and validation never share a voxel.

``synthetic``: MONAI ``create_test_image_3d`` volumes (spheres with noise), for the fastest tests.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from apps.e2enet.data.decathlon import write_dataset_json

__all__ = ["default_cache_dir", "build_mni_dataset", "build_synthetic_dataset", "MNI_VAL_CASES", "nilearn_mni_files"]

MNI_VERSION = 1
MNI_VAL_CASES = ["mni_q3"]
MNI_LABELS = {0: "background", 1: "grey_matter", 2: "white_matter"}


def default_cache_dir() -> Path:
    """``core.paths.cache_dir("e2enet")``: ``$SPARSELAB_CACHE/e2enet`` or ``~/.cache/sparselab/e2enet``."""
    from core.paths import cache_dir

    return cache_dir("e2enet")


def nilearn_mni_files() -> dict[str, Path]:
    """Paths of the T1, GM and WM maps inside the installed nilearn (FileNotFoundError names what is missing)."""
    import nilearn

    d = Path(nilearn.__file__).parent / "datasets" / "data"
    files = {k: d / f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}
    gone = [str(p) for p in files.values() if not p.is_file()]
    if gone:
        raise FileNotFoundError(f"the nilearn wheel lacks the MNI152 files {gone}; reinstall nilearn>=0.11 or use data=decathlon")
    return files


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """(X, Y, Z) -> (X//f, Y//f, Z//f) by averaging f^3 blocks."""
    X, Y, Z = (s // f for s in a.shape)
    a = a[: X * f, : Y * f, : Z * f].astype(np.float32)
    return a.reshape(X, f, Y, f, Z, f).mean(axis=(1, 3, 5))


def build_mni_dataset(root: str | Path | None = None, *, voxel_mm: int = 3, force: bool = False) -> Path:
    """Write (once) the MNI quadrant dataset; returns its folder. Re-built if ``force`` or the version changed."""
    import nibabel as nib

    if voxel_mm not in (1, 2, 3, 4):
        raise ValueError(f"voxel_mm={voxel_mm} must be one of 1, 2, 3, 4")
    root = Path(root) if root is not None else default_cache_dir() / f"mni_{voxel_mm}mm_v{MNI_VERSION}"
    stamp = root / ".complete"
    if stamp.is_file() and not force:
        return root
    files = nilearn_mni_files()
    imgs = {k: nib.load(str(p)) for k, p in files.items()}
    aff = imgs["t1"].affine
    t1 = _block_mean(np.asarray(imgs["t1"].dataobj), voxel_mm)
    gm = _block_mean(np.asarray(imgs["gm"].dataobj), voxel_mm) / 255.0
    wm = _block_mean(np.asarray(imgs["wm"].dataobj), voxel_mm) / 255.0
    lab = np.argmax(np.stack([np.clip(1.0 - gm - wm, 0, 1), gm, wm]), axis=0).astype(np.uint8)
    # new voxel (i, j, k) is the centre of old block [f*i, f*i + f): old index f*i + (f-1)/2
    new_aff = aff.copy()
    new_aff[:3, :3] = aff[:3, :3] * voxel_mm
    new_aff[:3, 3] = aff[:3, :3] @ np.full(3, (voxel_mm - 1) / 2.0) + aff[:3, 3]
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    X, Y, _ = t1.shape
    hx, hy = X // 2, Y // 2
    quads = [(slice(0, hx), slice(0, hy)), (slice(0, hx), slice(hy, Y)), (slice(hx, X), slice(hy, Y)), (slice(hx, X), slice(0, hy))]
    training = []
    for q, (sx, sy) in enumerate(quads):
        a = new_aff.copy()
        a[:3, 3] = new_aff[:3, :3] @ np.array([sx.start, sy.start, 0.0]) + new_aff[:3, 3]
        name = f"mni_q{q}"
        nib.save(nib.Nifti1Image(t1[sx, sy].astype(np.float32), a), str(root / "imagesTr" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(lab[sx, sy], a), str(root / "labelsTr" / f"{name}.nii.gz"))
        training.append((f"./imagesTr/{name}.nii.gz", f"./labelsTr/{name}.nii.gz"))
    write_dataset_json(root, "MNI152-2009a-quadrants", MNI_LABELS, training, modality="T1",
                       description=f"nilearn MNI152 2009a sym T1 + GM/WM maps at {voxel_mm} mm, four disjoint (x, y) quadrants")
    (root / "SOURCE.json").write_text(json.dumps({k: str(v) for k, v in files.items()}, indent=2))
    stamp.write_text(str(MNI_VERSION))
    return root


def build_synthetic_dataset(root: str | Path, *, num_cases: int = 4, size: tuple[int, int, int] = (32, 32, 16),
                            num_classes: int = 3, seed: int = 0) -> Path:
    """Write ``num_cases`` MONAI synthetic volumes (spheres, labels 0..num_classes-1) as a Decathlon folder."""
    import nibabel as nib
    from monai.data import create_test_image_3d

    root = Path(root)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(seed)
    training = []
    aff = np.diag([1.5, 1.5, 2.0, 1.0])
    for i in range(num_cases):
        img, seg = create_test_image_3d(*size, num_objs=6, rad_max=max(3, min(size) // 3), rad_min=2, noise_max=0.3,
                                        num_seg_classes=num_classes - 1, random_state=rs)
        name = f"syn_{i:03d}"
        nib.save(nib.Nifti1Image(img.astype(np.float32), aff), str(root / "imagesTr" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(seg.astype(np.uint8), aff), str(root / "labelsTr" / f"{name}.nii.gz"))
        training.append((f"./imagesTr/{name}.nii.gz", f"./labelsTr/{name}.nii.gz"))
    labels = {0: "background", **{k: f"class_{k}" for k in range(1, num_classes)}}
    write_dataset_json(root, "synthetic-spheres", labels, training, modality="synthetic")
    return root
