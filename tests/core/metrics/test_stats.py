"""Intervals and verdicts on synthetic numbers: order-statistics median interval, t interval, noise-floor verdicts."""
import pytest

from core.metrics.stats import interval_verdict, mean_interval, median_interval, t_quantile
from benchmarks.timing import comparison_from_samples


def test_median_interval_ranks_and_coverage():
    iv = median_interval(range(1, 21))        # n = 20: exact 95 % interval is [x(6), x(15)]
    assert (iv.center, iv.lo, iv.hi) == (10.5, 6, 15) and iv.coverage >= 0.95
    small = median_interval([3, 1, 2, 5, 4])  # n = 5: no 95 % interval exists -> [min, max], coverage 15/16
    assert (small.lo, small.hi) == (1, 5) and small.coverage == pytest.approx(1 - 2 / 32)
    with pytest.raises(ValueError, match="finite"):
        median_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="no values"):
        median_interval([])


def test_mean_interval_student_t():
    iv = mean_interval([1.0, 2.0, 3.0])       # mean 2, s 1, t(2) 4.3027 -> +- 2.484
    assert iv.center == 2.0 and iv.hi - iv.center == pytest.approx(4.302653 / 3 ** 0.5, rel=1e-6)
    one = mean_interval([5.0])
    assert (one.lo, one.hi, one.n) == (5.0, 5.0, 1)


@pytest.mark.parametrize("df, t975", [(1, 12.706205), (2, 4.302653), (4, 2.776445), (9, 2.262157), (30, 2.042272),
                                      (40, 2.021075), (120, 1.979930), (10_000, 1.960201)])
def test_t_quantiles_are_scipys(df, t975):
    """Two-sided 95 % quantiles t_{0.975, df} (standard tables to 6 digits), from scipy.stats.t.ppf at every df."""
    from scipy.stats import t

    assert t_quantile(df) == pytest.approx(t975, abs=1e-6)
    assert t_quantile(df) == float(t.ppf(0.975, df))
    assert t_quantile(df, confidence=0.90) == pytest.approx(float(t.ppf(0.95, df)))
    with pytest.raises(ValueError, match="df=0"):
        t_quantile(0)


@pytest.mark.parametrize("op, thr, lo, hi, verdict", [
    ("<=", 1.05, 0.98, 1.04, "met"), ("<=", 1.05, 1.06, 1.10, "missed"), ("<=", 1.05, 1.03, 1.07, "within noise"),
    (">=", 0.95, 0.96, 1.00, "met"), (">=", 0.95, 0.90, 0.94, "missed"), (">=", 0.95, 0.93, 0.97, "within noise"),
    ("<", 1.0, 0.9, 1.0, "within noise"), (">", 1.0, 1.0, 1.2, "within noise"),
    ("within", 0.05, -0.04, 0.03, "met"), ("within", 0.05, 0.06, 0.08, "missed"),
    ("within", 0.05, -0.09, -0.06, "missed"), ("within", 0.05, 0.02, 0.07, "within noise"),
])
def test_interval_verdict(op, thr, lo, hi, verdict):
    assert interval_verdict(op, thr, lo, hi) == verdict


def test_a_threshold_hit_exactly_is_not_lost_to_rounding():
    from core.metrics.stats import interval_verdict, mean_interval

    iv = mean_interval([0.2, 0.2, 0.2])                 # 0.20000000000000004 in floating point
    assert interval_verdict("<=", 0.2, iv.lo, iv.hi) == "met"
    assert interval_verdict(">=", 0.2, iv.lo, iv.hi) == "met"
    assert interval_verdict("<=", 0.2, 0.2, 0.2001) == "within noise"   # a real excess still counts


def test_interval_verdict_rejects_nonsense():
    with pytest.raises(ValueError, match="empty"):
        interval_verdict("<=", 1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="not a target operator"):
        interval_verdict("==", 1.0, 0.0, 1.0)


def _samples(base, ratios, noise):
    a = [base] * len(ratios)
    return a, [base * r for r in ratios], [base * n for n in noise]


def test_timing_verdict_uses_the_noise_floor():
    """Synthetic per-round timings: the same candidate ratios are 'met' on a quiet machine and 'within
    noise' when the baseline compared with itself shows a bias as large as the margin to the target."""
    ratios = [1.00, 1.01, 1.02, 1.01, 1.00, 1.02, 1.01, 1.01, 1.00, 1.02, 1.01, 1.01, 1.02, 1.00, 1.01]
    quiet = [1.0] * 15
    a, b, c = _samples(0.01, ratios, quiet)
    cmp = comparison_from_samples(a, b, c, a, b, c, clock="thread_cpu_time")
    assert cmp.ratio.center == pytest.approx(1.01) and cmp.bias == pytest.approx(0.0)
    assert interval_verdict("<=", 1.05, cmp.judged.lo, cmp.judged.hi) == "met"
    loud = [1.04] * 15                                   # the baseline against itself reads 1.04
    a, b, c = _samples(0.01, ratios, loud)
    cmp = comparison_from_samples(a, b, c, a, b, c, clock="thread_cpu_time")
    assert cmp.bias == pytest.approx(0.04) and cmp.judged.hi == pytest.approx(cmp.ratio.hi + 0.04)
    assert interval_verdict("<=", 1.05, cmp.judged.lo, cmp.judged.hi) == "within noise"
    slow = [1.2] * 15
    a, b, c = _samples(0.01, slow, quiet)
    cmp = comparison_from_samples(a, b, c, a, b, c, clock="thread_cpu_time")
    assert interval_verdict("<=", 1.05, cmp.judged.lo, cmp.judged.hi) == "missed"


def test_timing_samples_validated():
    with pytest.raises(ValueError, match="same number"):
        comparison_from_samples([1.0], [1.0, 2.0], [1.0], [1.0], [1.0], [1.0], clock="x")
    with pytest.raises(ValueError, match="no measurable time"):
        comparison_from_samples([0.0], [1.0], [1.0], [1.0], [1.0], [1.0], clock="x")


def test_judge_seeds_pairs_by_seed_and_names_its_quantity():
    from core.metrics.stats import judge_seeds

    # per-seed ratios 0.5, 0.6, 0.55: the whole t interval is under 1 although the means overlap the spread
    r = judge_seeds([5.0, 12.0, 22.0], [10.0, 20.0, 40.0], "< 1")
    assert r["judged_on"] == "paired ratio" and r["verdict"] == "met"
    assert r["compared"] == pytest.approx(0.55) and r["interval"][1] < 1
    rel = judge_seeds([1.02, 1.21], [1.0, 1.1], "within 5%")            # +2 %, +10 %: straddles 5 %
    assert rel["judged_on"] == "paired relative difference" and rel["verdict"] == "within noise"
    assert judge_seeds([0.3, 0.31, 0.29], None, "<= 0.4")["verdict"] == "met"
    assert judge_seeds([0.6], None, "<= 0.4") == {"compared": 0.6, "interval": [0.6, 0.6], "judged_on": "mean",
                                                   "verdict": "missed"}
    with pytest.raises(ValueError, match="needs a baseline"):
        judge_seeds([0.1, 0.2], None, "within 0.05")
    with pytest.raises(ValueError, match="paired by seed"):
        judge_seeds([0.1, 0.2], [0.1], "<= 1")
    with pytest.raises(ValueError, match="baseline value is 0"):
        judge_seeds([0.1], [0.0], "<= 1")
