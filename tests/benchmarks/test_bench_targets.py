"""Target strings: parsing, met / not met for every operator, with and without a baseline."""
import math

import pytest

from benchmarks.context import Target, direction_of, evaluate_target, parse_target


@pytest.mark.parametrize("text, op, thr, rel", [
    ("<= 1.02", "<=", 1.02, False), (">=1.5", ">=", 1.5, False), ("< 1", "<", 1.0, False),
    ("> 0.9", ">", 0.9, False), ("within 0.05", "within", 0.05, False), ("within 5%", "within", 0.05, True),
    ("<= 1e-3", "<=", 1e-3, False), (" >= -2 ", ">=", -2.0, False),
])
def test_parse(text, op, thr, rel):
    t = parse_target(text)
    assert (t.op, t.relative) == (op, rel)
    assert t.threshold == pytest.approx(thr)


@pytest.mark.parametrize("bad", ["", "1.02", "=< 1", "== 1", "<= x", "> 5%", "within -1", "about 3"])
def test_parse_rejects_with_valid_forms(bad):
    with pytest.raises(ValueError, match="target="):
        parse_target(bad)


def test_parse_rejects_non_string():
    with pytest.raises(ValueError, match="must be a string"):
        parse_target(1.02)


@pytest.mark.parametrize("target, value, met", [
    ("<= 2", 2.0, True), ("<= 2", 2.5, False), ("< 2", 2.0, False), ("< 2", 1.9, True),
    (">= 3", 3.0, True), (">= 3", 2.9, False), ("> 3", 3.0, False), ("> 3", 3.1, True),
])
def test_value_without_baseline(target, value, met):
    got, compared = evaluate_target(target, value)
    assert got is met
    assert compared == value


@pytest.mark.parametrize("target, value, baseline, met", [
    ("<= 1.02", 10.1, 10.0, True), ("<= 1.02", 10.3, 10.0, False),
    ("< 1", 9.0, 10.0, True), ("< 1", 10.0, 10.0, False),
    (">= 1.5", 15.0, 10.0, True), (">= 1.5", 14.0, 10.0, False),
    ("> 0.9", 9.5, 10.0, True), ("> 0.9", 9.0, 10.0, False),
])
def test_ratio_with_baseline(target, value, baseline, met):
    got, compared = evaluate_target(target, value, baseline)
    assert got is met
    assert compared == pytest.approx(value / baseline)


def test_within_absolute_and_relative():
    assert evaluate_target("within 0.05", 0.93, 0.95) == (True, pytest.approx(0.02))
    assert evaluate_target("within 0.05", 0.85, 0.95)[0] is False
    assert evaluate_target("within 0.05", 0.99, 0.95)[0] is True  # symmetric
    assert evaluate_target("within 5%", 104.0, 100.0) == (True, pytest.approx(0.04))
    assert evaluate_target("within 5%", 94.0, 100.0)[0] is False


def test_within_needs_baseline():
    with pytest.raises(ValueError, match="needs a baseline"):
        evaluate_target("within 0.1", 1.0)


def test_missing_value_never_meets_and_zero_baseline_is_undefined():
    assert evaluate_target(">= 0", None) == (False, None)
    assert evaluate_target(">= 0", math.nan) == (False, None)
    assert evaluate_target("<= 1.02", 1.0, 0.0) == (None, None)
    assert evaluate_target(None, 1.0) == (None, None)


def test_direction_and_str():
    assert direction_of(">= 1") is True and direction_of("> 1") is True
    assert direction_of("<= 1") is False and direction_of("< 1") is False
    assert direction_of("within 0.1") is None and direction_of(None) is None
    assert str(parse_target("within 5%")) == "within 5%"
    assert str(Target("<=", 1.02)) == "<= 1.02"
