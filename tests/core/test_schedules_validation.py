import math

import pytest

from core.schedules import Constant, Cosine, Cubic, Exponential, Linear, as_schedule, make_schedule
from core.validation import check_choice, check_fraction, check_positive_int, check_range


def test_cosine_endpoints_and_midpoint():
    s = Cosine(0.5, 0.0, 100)
    assert s(0) == pytest.approx(0.5)
    assert s(50) == pytest.approx(0.25)
    assert s(100) == pytest.approx(0.0)
    assert s(1000) == pytest.approx(0.0)  # stays at the end
    assert all(s(i) >= s(i + 1) for i in range(100))


def test_cubic_matches_zhu_gupta():
    s = Cubic(0.0, 0.9, 10)
    for t in range(11):
        assert s(t) == pytest.approx(0.9 + (0.0 - 0.9) * (1 - t / 10) ** 3)


def test_linear_exponential_constant():
    assert Linear(1.0, 3.0, 4)(2) == pytest.approx(2.0)
    e = Exponential(1.0, 100.0, 2)
    assert e(1) == pytest.approx(10.0)
    assert Constant(0.3)(12345) == 0.3
    assert as_schedule(0.2)(7) == 0.2


def test_make_schedule_by_name_and_errors():
    assert make_schedule("cosine", start=1.0, end=0.0, total_steps=2)(1) == pytest.approx(0.5)
    assert make_schedule("constant", value=0.1)(3) == 0.1
    with pytest.raises(ValueError, match="valid choices: constant, linear, cosine, cubic, exponential"):
        make_schedule("sawtooth", start=1, end=0, total_steps=3)
    with pytest.raises(ValueError, match="total_steps"):
        make_schedule("cosine", start=1, end=0)
    with pytest.raises(ValueError, match="total_steps=0"):
        Cosine(1, 0, 0)
    with pytest.raises(ValueError, match="start > 0"):
        Exponential(0.0, 1.0, 3)


@pytest.mark.parametrize("bad", [0, -0.1, 1.01, float("nan"), "abc"])
def test_check_fraction_rejects(bad):
    with pytest.raises(ValueError, match="density"):
        check_fraction("density", bad)


def test_check_helpers_accept_and_reject():
    assert check_fraction("keep", 1) == 1.0
    assert check_choice("policy", "ucb", ["ucb", "full"]) == "ucb"
    with pytest.raises(ValueError, match="valid choices: ucb, full"):
        check_choice("policy", "best", ["ucb", "full"])
    assert check_positive_int("n", 3) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            check_positive_int("n", bad)
    assert check_range("eps", 0.0, 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match=r"eps=2 must be in \(0, 1\]"):
        check_range("eps", 2, 0, 1, low_open=True)
    assert not math.isnan(check_range("x", 0.5, 0, 1))


def test_warmup_cosine_lr():
    from core.schedules import warmup_cosine
    lrs = [warmup_cosine(s, 2.0, 4, 20, min_ratio=0.1) for s in range(30)]
    assert lrs[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])  # linear warm-up reaches the peak
    assert lrs[4] == pytest.approx(2.0) and lrs[20] == pytest.approx(0.2) and lrs[29] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))  # then decays monotonically to min_ratio * peak
