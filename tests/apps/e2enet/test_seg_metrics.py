import math

import pytest
import torch

from apps.e2enet.seg_metrics import case_scores, summarize_cases, worst_distance_mm


def _maps():
    lab = torch.zeros(1, 12, 12, 10, dtype=torch.long)
    lab[0, 2:6, 2:6, 2:6] = 1
    lab[0, 7:10, 7:10, 5:8] = 2
    return lab


def test_distances_are_in_mm_from_the_spacing():
    lab = _maps()
    pred = lab.clone()
    pred[0, 2:6, 2:6, 2:7] = 1        # class 1 one slice too deep along Z
    pred[0, 7:10, 7:10, 5:8] = 2
    iso = case_scores(pred, lab, 3, (1.0, 1.0, 1.0))
    aniso = case_scores(pred, lab, 3, (1.0, 1.0, 3.0))
    assert iso["hd95_mm"][0] == pytest.approx(1.0)
    assert aniso["hd95_mm"][0] == pytest.approx(3.0)          # one voxel along Z is 3 mm
    assert aniso["asd_mm"][0] > iso["asd_mm"][0] > 0
    assert aniso["hd95_mm"][1] == 0.0 and aniso["dice"][1] == 1.0
    assert iso["status"] == ["ok", "ok"]


def test_missed_and_spurious_classes_score_the_worst_case_and_are_counted():
    lab = _maps()
    pred = lab.clone()
    pred[pred == 2] = 0                       # class 2 missed
    sp = (1.5, 1.5, 2.0)
    s = case_scores(pred, lab, 3, sp)
    worst = worst_distance_mm((12, 12, 10), sp)
    assert worst == pytest.approx(math.sqrt(18 ** 2 + 18 ** 2 + 20 ** 2))
    assert s["status"] == ["ok", "missed"] and s["dice"][1] == 0.0
    assert s["hd95_mm"][1] == pytest.approx(worst) and s["asd_mm"][1] == pytest.approx(worst)
    # spurious: the reference has no class 2, the prediction does
    lab2 = lab.clone()
    lab2[lab2 == 2] = 0
    s2 = case_scores(lab, lab2, 3, sp)
    assert s2["status"] == ["ok", "spurious"] and s2["hd95_mm"][1] == pytest.approx(worst)
    summ = summarize_cases([s, s2])
    assert summ["missed"] == 1 and summ["spurious"] == 1 and summ["missed_per_class"] == [0, 1]
    assert summ["dice"][1] == 0.0 and summ["hd95_mm"][1] == pytest.approx(worst)   # never NaN-dropped


def test_class_absent_from_both_is_left_out_not_scored():
    lab = _maps()
    lab[lab == 2] = 0
    s = case_scores(lab, lab, 3, (1, 1, 1))
    assert s["status"] == ["ok", "absent"] and math.isnan(s["dice"][1])
    summ = summarize_cases([s])
    assert summ["mean_dice"] == 1.0 and math.isnan(summ["dice"][1])


def test_bad_inputs_are_named():
    lab = _maps()
    with pytest.raises(ValueError, match="spacing"):
        case_scores(lab, lab, 3, (1, 1))
    with pytest.raises(ValueError, match=r"\(1, X, Y, Z\)"):
        case_scores(lab[0], lab[0], 3, (1, 1, 1))


def test_nan_dropped_hd95_column_follows_the_official_evaluator():
    """The second HD95 column (nnU-Net v1 hausdorff_distance_95 with nan_for_nonexisting, nanmean): a missed or spurious
    class is NaN and dropped from the means, where the first column counts it at the volume diagonal."""
    lab = _maps()
    ok = lab.clone()
    ok[0, 2:6, 2:6, 2:7] = 1                         # class 1 one slice too deep: HD95 1 voxel = 2 mm along Z
    missed = ok.clone()
    missed[missed == 2] = 0                          # second case: class 2 missed
    sp = (1.0, 1.0, 2.0)
    a, b = case_scores(ok, lab, 3, sp), case_scores(missed, lab, 3, sp)
    assert a["hd95_nan_dropped_mm"] == pytest.approx(a["hd95_mm"])          # both present: the same value
    assert b["hd95_nan_dropped_mm"][0] == pytest.approx(2.0) and math.isnan(b["hd95_nan_dropped_mm"][1])
    summ = summarize_cases([a, b])
    worst = b["worst_mm"]
    assert summ["hd95_mm"][1] == pytest.approx((0.0 + worst) / 2)           # counted at the diagonal
    assert summ["hd95_nan_dropped_mm"][1] == pytest.approx(0.0)            # the missed case is dropped
    assert summ["mean_hd95_nan_dropped_mm"] == pytest.approx((2.0 + 0.0) / 2)
    assert summ["mean_hd95_mm"] > summ["mean_hd95_nan_dropped_mm"]
    # a class missed in every case: NaN for that class, left out of the mean over classes
    only = summarize_cases([b])
    assert math.isnan(only["hd95_nan_dropped_mm"][1]) and only["mean_hd95_nan_dropped_mm"] == pytest.approx(2.0)
    # distances off: no column
    assert case_scores(ok, lab, 3, sp, distances=False)["hd95_nan_dropped_mm"] is None
