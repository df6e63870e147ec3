"""An embedded cohort of distinct synthetic subjects made from the MNI152 template that the nilearn wheel ships.

Each subject is the template (T1 + grey/white-matter probability maps, block-averaged to ``voxel_mm``) put
through, with its own seed:

1. a random smooth deformation: MONAI ``Rand3DElasticd`` (Gaussian-smoothed displacement field, sigma 4-7
   voxels, magnitude 1-3 voxels) with a random rotation (up to 0.15 rad per axis) and scaling (up to 8 %),
   applied to the T1 and to both probability maps together (bilinear), so anatomy and labels move as one;
2. the label: argmax of (1 - gm - wm, gm, wm) of the deformed maps -> 0 background (CSF, skull, outside),
   1 grey matter, 2 white matter;
3. intensity: ``RandBiasField`` (smooth multiplicative inhomogeneity, degree 3, coefficients 0.1-0.3),
   ``RandAdjustContrast`` (gamma 0.7-1.5), ``RandGibbsNoise`` (ringing, alpha 0.1-0.4), Gaussian noise
   (2-5 % of the intensity range) inside the head; the background outside the head stays 0 (as in
   defaced / masked MRI), so the non-zero crop of the preprocessing finds the head.

Every subject is written as a Decathlon case ``sub_XXX`` (``imagesTr/sub_XXX.nii.gz``, ``labelsTr/...``) with
the template's affine at ``voxel_mm``. The cohort is fixed by ``seed``; the split into train / validation /
test subjects is the data config's (``data.val_cases``, ``data.test_cases``), whole subjects at a time.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from apps.e2enet.data.decathlon import write_dataset_json
from apps.e2enet.data.embedded import MNI_LABELS, _block_mean, default_cache_dir, nilearn_mni_files

__all__ = ["build_cohort_dataset", "COHORT_VERSION", "make_subject"]

COHORT_VERSION = 1


def _template(voxel_mm: int):
    import nibabel as nib

    files = nilearn_mni_files()
    imgs = {k: nib.load(str(p)) for k, p in files.items()}
    aff = imgs["t1"].affine
    t1 = _block_mean(np.asarray(imgs["t1"].dataobj), voxel_mm)
    gm = _block_mean(np.asarray(imgs["gm"].dataobj), voxel_mm) / 255.0
    wm = _block_mean(np.asarray(imgs["wm"].dataobj), voxel_mm) / 255.0
    new_aff = aff.copy()
    new_aff[:3, :3] = aff[:3, :3] * voxel_mm
    new_aff[:3, 3] = aff[:3, :3] @ np.full(3, (voxel_mm - 1) / 2.0) + aff[:3, 3]
    return t1, gm, wm, new_aff, files


def make_subject(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y, Z) template T1 / GM / WM -> one subject's (image float32 (X, Y, Z), label uint8 (X, Y, Z))."""
    import torch
    from monai import transforms as T

    head = (t1 > 0.05 * float(t1.max())).astype(np.float32)
    data = {k: torch.as_tensor(v[None].astype(np.float32)) for k, v in (("t1", t1), ("gm", gm), ("wm", wm), ("head", head))}
    keys = ["t1", "gm", "wm", "head"]
    deform = T.Rand3DElasticd(keys, sigma_range=(4.0, 7.0), magnitude_range=(1.0, 3.0), prob=1.0,
                              rotate_range=(0.15, 0.15, 0.15), scale_range=(0.08, 0.08, 0.08), mode="bilinear",
                              padding_mode="zeros")
    deform.set_random_state(seed=seed)
    d = deform(data)
    img = torch.as_tensor(d["t1"]).float()
    gm_d, wm_d = torch.as_tensor(d["gm"]).float(), torch.as_tensor(d["wm"]).float()
    mask = torch.as_tensor(d["head"]).float() > 0.5
    lab = torch.stack([(1 - gm_d - wm_d).clamp(0, 1), gm_d, wm_d]).argmax(0)[0].to(torch.uint8)
    lab[~mask[0]] = 0
    rs = np.random.RandomState(seed)
    img = img / img.max().clamp_min(1e-6)
    intensity = T.Compose([
        T.RandBiasField(degree=3, coeff_range=(0.1, 0.3), prob=1.0),
        T.RandAdjustContrast(gamma=(0.7, 1.5), prob=1.0),
        T.RandGibbsNoise(prob=1.0, alpha=(0.1, 0.4)),
    ])
    intensity.set_random_state(seed=int(rs.randint(0, 2**31 - 1)))
    img = torch.as_tensor(intensity(img)).float()
    img = img + float(rs.uniform(0.02, 0.05)) * torch.as_tensor(rs.standard_normal(img.shape), dtype=torch.float32)
    img = img.clamp_min(0) * mask                      # zero outside the head
    img = img * (1000.0 / img.max().clamp_min(1e-6))   # scanner-like range
    return img[0].numpy().astype(np.float32), lab.numpy()


def build_cohort_dataset(root: str | Path | None = None, *, num_subjects: int = 12, voxel_mm: int = 3, seed: int = 0,
                         force: bool = False) -> Path:
    """Write (once) ``num_subjects`` subjects as a Decathlon folder; returns it. Re-built if ``force`` or the version changed."""
    import nibabel as nib

    if voxel_mm not in (1, 2, 3, 4):
        raise ValueError(f"data.voxel_mm={voxel_mm} must be one of 1, 2, 3, 4")
    if isinstance(num_subjects, bool) or not isinstance(num_subjects, int) or num_subjects < 3:
        raise ValueError(f"data.num_subjects={num_subjects!r} must be an int >= 3 (train, validation and test subjects)")
    root = Path(root) if root is not None else default_cache_dir() / f"cohort_{num_subjects}_{voxel_mm}mm_s{seed}_v{COHORT_VERSION}"
    stamp = root / ".complete"
    if stamp.is_file() and not force:
        return root
    t1, gm, wm, aff, files = _template(voxel_mm)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for i in range(num_subjects):
        img, lab = make_subject(t1, gm, wm, seed=seed * 100_003 + i)
        name = f"sub_{i:03d}"
        nib.save(nib.Nifti1Image(img, aff), str(root / "imagesTr" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(lab, aff), str(root / "labelsTr" / f"{name}.nii.gz"))
        training.append((f"./imagesTr/{name}.nii.gz", f"./labelsTr/{name}.nii.gz"))
    write_dataset_json(root, "MNI152-2009a-cohort", MNI_LABELS, training, modality="T1",
                       description=(f"{num_subjects} synthetic subjects from the nilearn MNI152 2009a sym T1 + GM/WM maps at "
                                    f"{voxel_mm} mm: random elastic+affine deformation, bias field, contrast, Gibbs, noise; seed {seed}"))
    (root / "SOURCE.json").write_text(json.dumps({"template": {k: str(v) for k, v in files.items()}, "seed": seed,
                                                  "version": COHORT_VERSION}, indent=2))
    stamp.write_text(str(COHORT_VERSION))
    return root
