import json

import numpy as np
import pytest

from apps.e2enet.data import load_dataset_json, split_cases, validate_cases

from e2enet_fixtures import write_case, write_dataset


def test_reads_decathlon_layout(tiny_dataset):
    ds = load_dataset_json(tiny_dataset)
    validate_cases(ds)
    assert ds.num_classes == 3 and ds.num_channels == 1
    assert [c.name for c in ds.training] == ["case_a", "case_b", "case_c"]
    train, val = split_cases(ds.training, val_fraction=0.34, seed=0)
    assert len(val) == 1 and {c.name for c in train} | {c.name for c in val} == {"case_a", "case_b", "case_c"}
    t2, v2 = split_cases(ds.training, val_cases=["case_b"])
    assert [c.name for c in v2] == ["case_b"]


def test_reads_nnunet_v2_layout(tmp_path):
    import nibabel as nib

    root = tmp_path / "Dataset001"
    write_case(root, "c1")
    (root / "imagesTr" / "c1.nii.gz").rename(root / "imagesTr" / "c1_0000.nii.gz")
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "T1"}, "labels": {"background": 0, "a": 1, "b": 2},
                                                   "numTraining": 1, "file_ending": ".nii.gz"}))
    ds = load_dataset_json(root)
    validate_cases(ds)
    assert ds.labels == {0: "background", 1: "a", 2: "b"} and ds.training[0].images[0].name == "c1_0000.nii.gz"
    assert nib.load(str(ds.training[0].label)).shape == (20, 20, 12)


def test_missing_file_names_the_case(tiny_dataset):
    (tiny_dataset / "labelsTr" / "case_b.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case 'case_b': missing .*labelsTr/case_b.nii.gz"):
        validate_cases(load_dataset_json(tiny_dataset))


def test_shape_mismatch_names_the_case(tmp_path):
    root = write_dataset(tmp_path / "d")
    write_case(root, "case_c", label_shape=(20, 20, 10))
    with pytest.raises(ValueError, match=r"case 'case_c': image shape \(20, 20, 12\) != label shape \(20, 20, 10\)"):
        validate_cases(load_dataset_json(root))


def test_affine_mismatch_names_the_case(tmp_path):
    root = write_dataset(tmp_path / "d")
    write_case(root, "case_a", label_affine=np.diag([1.5, 1.5, 3.0, 1.0]))
    with pytest.raises(ValueError, match="case 'case_a': image and label affines differ"):
        validate_cases(load_dataset_json(root))


def test_label_outside_declared_classes_names_the_case(tmp_path):
    root = write_dataset(tmp_path / "d", labels={"0": "background", "1": "one"})
    with pytest.raises(ValueError, match=r"case 'case_a': label values \[2\] are outside the declared classes \[0, 1\]"):
        validate_cases(load_dataset_json(root))


def test_unparsable_json(tiny_dataset):
    (tiny_dataset / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json does not parse as JSON"):
        load_dataset_json(tiny_dataset)


def test_missing_root_and_bad_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_dataset_json(tmp_path / "nope")
    root = write_dataset(tmp_path / "d")
    meta = json.loads((root / "dataset.json").read_text())
    meta["labels"] = {"1": "one"}
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="class 0"):
        load_dataset_json(root)
    with pytest.raises(ValueError, match="not cases of this dataset"):
        split_cases(load_dataset_json(write_dataset(tmp_path / "e")).training, val_cases=["zzz"])


def test_embedded_mni_is_a_valid_decathlon_folder(tmp_path):
    from apps.e2enet.data import MNI_VAL_CASES, build_mni_dataset

    root = build_mni_dataset(tmp_path / "mni", voxel_mm=4)
    ds = load_dataset_json(root)
    validate_cases(ds)
    assert ds.labels == {0: "background", 1: "grey_matter", 2: "white_matter"}
    import nibabel as nib

    imgs = [nib.load(str(c.images[0])) for c in ds.training]
    # the four quadrants tile the downsampled volume without overlap
    origins = {tuple(np.round(i.affine[:3, 3], 3)) for i in imgs}
    assert len(origins) == 4 and MNI_VAL_CASES[0] in {c.name for c in ds.training}
    assert sum(int(np.prod(i.shape)) for i in imgs) == (197 // 4) * (233 // 4) * (189 // 4)
