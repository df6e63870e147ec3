"""Tiny Decathlon folders written with nibabel in tmp_path."""
import json

import nibabel as nib
import numpy as np


def write_case(root, name, shape=(20, 20, 12), affine=None, seed=0, label_shape=None, label_affine=None, label_values=(0, 1, 2)):
    rs = np.random.RandomState(seed)
    affine = np.diag([1.5, 1.5, 2.0, 1.0]) if affine is None else affine
    lab = np.zeros(label_shape or shape, np.uint8)
    sx, sy, sz = (s // 2 for s in lab.shape)
    for k, v in enumerate(label_values[1:]):
        lab[sx - 4 + 2 * k: sx + 4, sy - 4: sy + 4 - 2 * k, sz - 3: sz + 3] = v
    img = (lab.astype(np.float32) if label_shape is None else np.zeros(shape, np.float32)) * 2 + rs.rand(*shape).astype(np.float32) * 0.3
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(img, affine), str(root / "imagesTr" / f"{name}.nii.gz"))
    nib.save(nib.Nifti1Image(lab, affine if label_affine is None else label_affine), str(root / "labelsTr" / f"{name}.nii.gz"))


def write_dataset(root, names=("case_a", "case_b", "case_c"), labels=None, **kw):
    for i, n in enumerate(names):
        write_case(root, n, seed=i, **kw)
    meta = {"name": "tiny", "modality": {"0": "MRI"},
            "labels": labels or {"0": "background", "1": "one", "2": "two"},
            "training": [{"image": f"./imagesTr/{n}.nii.gz", "label": f"./labelsTr/{n}.nii.gz"} for n in names], "test": []}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


TINY = ["data=decathlon", "model.channels=[4,8,8]", "model.deep_supervision=2", "train.patch_size=[16,16,8]",
        "train.iters_per_epoch=2", "trainer.epochs=1", "trainer.batch_size=2", "eval.hd95=false", "eval.sw_batch_size=4",
        "trainer.progress=off", "trainer.device=cpu", "sparse.update_every=1"]
