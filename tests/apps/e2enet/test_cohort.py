"""The embedded cohort: distinct subjects from one template, fixed by seed, a valid Decathlon folder."""
import numpy as np
import pytest

from apps.e2enet.data.cohort import make_subject


def _toy_template():
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, 24),) * 3, indexing="ij")
    r = np.sqrt(x ** 2 + y ** 2 + z ** 2)
    t1 = np.where(r < 0.8, 100.0 - 30 * (r > 0.5), 0.0).astype(np.float32)
    e = np.sqrt(((x - 0.2) / 0.5) ** 2 + (y / 0.25) ** 2 + (z / 0.35) ** 2)     # an off-centre ellipsoid
    wm = (e < 1).astype(np.float32)
    gm = ((r < 0.6) & (e >= 1)).astype(np.float32)
    return t1, gm, wm


def test_subjects_differ_and_are_fixed_by_seed():
    t1, gm, wm = _toy_template()
    a1, l1 = make_subject(t1, gm, wm, seed=1)
    a2, l2 = make_subject(t1, gm, wm, seed=2)
    b1, m1 = make_subject(t1, gm, wm, seed=1)
    assert np.array_equal(a1, b1) and np.array_equal(l1, m1)            # same seed, same subject
    assert not np.array_equal(l1, l2) and not np.allclose(a1, a2)      # another seed, another anatomy and contrast
    assert set(np.unique(l1).tolist()) == {0, 1, 2}
    assert (a1[l1 == 2] > 0).all()                                      # white matter inside the head: non-zero
    assert np.all(a1[(t1 == 0) & (l1 == 0)][:10] >= 0)
    # the deformation moved the labels (not only the intensities)
    inter = np.logical_and(l1 == 2, l2 == 2).sum()
    dice = 2 * inter / ((l1 == 2).sum() + (l2 == 2).sum())
    assert 0.5 < dice < 0.99


@pytest.mark.slow
def test_cohort_is_a_valid_decathlon_folder(tmp_path):
    from apps.e2enet.data import build_cohort_dataset, load_dataset_json, validate_cases

    root = build_cohort_dataset(tmp_path / "c", num_subjects=3, voxel_mm=4, seed=0)
    ds = load_dataset_json(root)
    validate_cases(ds)
    assert [c.name for c in ds.training] == ["sub_000", "sub_001", "sub_002"]
    assert ds.labels == {0: "background", 1: "grey_matter", 2: "white_matter"}
    with pytest.raises(ValueError, match="num_subjects"):
        build_cohort_dataset(tmp_path / "d", num_subjects=2)
