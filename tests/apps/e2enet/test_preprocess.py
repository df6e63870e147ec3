"""Preprocessing order: the foreground crop runs on raw intensities, before normalization (nnU-Net)."""
import nibabel as nib
import numpy as np
import torch

from apps.e2enet.data import preprocess_transforms


def test_dark_structure_at_the_edge_keeps_its_labels(tmp_path):
    img = np.zeros((24, 24, 16), np.float32)          # air outside the body
    img[4:20, 4:20, 2:14] = 10.0                      # bright body
    img[4:9, 4:20, 2:14] = 0.5                        # a dark (but non-zero) structure at the body's edge
    lab = np.zeros(img.shape, np.uint8)
    lab[4:9, 4:20, 2:14] = 1
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(img, aff), str(tmp_path / "i.nii.gz"))
    nib.save(nib.Nifti1Image(lab, aff), str(tmp_path / "l.nii.gz"))
    out = preprocess_transforms()({"image": str(tmp_path / "i.nii.gz"), "label": str(tmp_path / "l.nii.gz")})
    assert int(torch.as_tensor(out["label"]).sum()) == int(lab.sum())       # nothing cropped away
    # the crop removed the air around the body (plus one voxel of margin), and only that
    assert tuple(out["image"].shape[1:]) == (18, 18, 14)
    # normalization happened after the crop: z-scored over the cropped region
    x = torch.as_tensor(out["image"])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std(unbiased=False)) - 1) < 1e-3
