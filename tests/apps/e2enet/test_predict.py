"""predict: nnU-Net per-channel inputs, header codes kept, output folders that hold inputs refused; declared modalities checked."""
import json

import nibabel as nib
import numpy as np
import pytest
import torch

from apps.e2enet.data import load_dataset_json, validate_cases
from apps.e2enet.predict import find_cases, predict_files
from apps.e2enet.recipe import build_model

from e2enet_fixtures import write_dataset


def _model_file(path, in_channels):
    cfg = {"arch": "e2enet", "channels": [4, 8], "deep_supervision": 1}
    torch.manual_seed(0)
    m = build_model(cfg, in_channels, 3)
    torch.save({"model": m.state_dict(), "model_cfg": cfg, "in_channels": in_channels, "num_classes": 3, "labels": {},
                "patch_size": [8, 8, 8], "preprocess": {"pixdim": None, "normalize": "zscore", "ct_window": [-175.0, 250.0],
                                                         "crop_foreground": True}}, path)
    return path


def _write(path, data, qcode=1, scode=1):
    aff = np.diag([1.5, 1.5, 2.0, 1.0])
    aff[:3, 3] = [-12.0, 7.0, 3.0]
    img = nib.Nifti1Image(data, aff)
    img.header.set_qform(aff, code=qcode)
    img.header.set_sform(aff if scode else None, code=scode)
    nib.save(img, str(path))


def test_per_channel_files_are_one_case_and_header_codes_are_kept(tmp_path):
    model = _model_file(tmp_path / "m.pt", 2)
    src = tmp_path / "imagesTs"
    src.mkdir()
    rs = np.random.RandomState(0)
    for case, (q, s) in (("c1", (1, 1)), ("c2", (1, 0))):
        for ch in range(2):
            _write(src / f"{case}_{ch:04d}.nii.gz", rs.rand(12, 10, 8).astype(np.float32) + 0.1, qcode=q, scode=s)
    cases = find_cases(src)
    assert [(c.name, [p.name for p in c.images]) for c in cases] == [
        ("c1.nii.gz", ["c1_0000.nii.gz", "c1_0001.nii.gz"]), ("c2.nii.gz", ["c2_0000.nii.gz", "c2_0001.nii.gz"])]
    out = predict_files(model, src, tmp_path / "pred")
    assert [p.name for p in out] == ["c1.nii.gz", "c2.nii.gz"]
    for p, (q, s) in zip(out, ((1, 1), (1, 0))):
        a, b = nib.load(str(src / p.name.replace(".nii.gz", "_0000.nii.gz"))), nib.load(str(p))
        assert b.shape == a.shape and np.allclose(a.affine, b.affine)
        assert (int(b.header["qform_code"]), int(b.header["sform_code"])) == (q, s)
        assert b.get_data_dtype() == np.uint8
    # one _0000 file brings its sibling channels
    assert [p.name for p in find_cases(src / "c1_0000.nii.gz")[0].images] == ["c1_0000.nii.gz", "c1_0001.nii.gz"]


def test_wrong_channel_count_and_gaps_are_named(tmp_path):
    model = _model_file(tmp_path / "m.pt", 2)
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "x.nii.gz", np.ones((8, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"case 'x.nii.gz' .* has 1 channel\(s\); the model expects 2"):
        predict_files(model, src, tmp_path / "pred")
    (src / "x.nii.gz").unlink()
    _write(src / "y_0000.nii.gz", np.ones((8, 8, 8), np.float32))
    _write(src / "y_0002.nii.gz", np.ones((8, 8, 8), np.float32))
    with pytest.raises(ValueError, match="do not run _0000"):
        find_cases(src)


def test_output_folder_holding_the_inputs_is_refused(tmp_path):
    model = _model_file(tmp_path / "m.pt", 1)
    src = tmp_path / "data" / "imgs"
    src.mkdir(parents=True)
    _write(src / "a.nii.gz", np.ones((8, 8, 8), np.float32))
    before = (src / "a.nii.gz").read_bytes()
    for out in (src, tmp_path / "data", src / ".." / "imgs"):
        with pytest.raises(ValueError, match="contains the input"):
            predict_files(model, src, out)
    assert (src / "a.nii.gz").read_bytes() == before


def test_declared_modalities_must_match_the_images(tmp_path):
    root = write_dataset(tmp_path / "d")
    img = nib.load(str(root / "imagesTr" / "case_b.nii.gz"))
    two = np.stack([np.asarray(img.dataobj)] * 2, -1)            # a 2-channel (4D) image
    nib.save(nib.Nifti1Image(two, img.affine), str(root / "imagesTr" / "case_b.nii.gz"))
    with pytest.raises(ValueError, match=r"case 'case_b': 2 image channel\(s\) but dataset.json declares 1"):
        validate_cases(load_dataset_json(root))
    meta = json.loads((root / "dataset.json").read_text())
    meta.pop("modality")                                         # nothing declared: nothing to check
    (root / "dataset.json").write_text(json.dumps(meta))
    validate_cases(load_dataset_json(root))
