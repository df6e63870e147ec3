"""Intervals and verdicts: how a benchmark figure with a spread is judged against its target.

* ``median_interval(xs)``: the median with a distribution-free confidence interval from order statistics
  (exact binomial ranks; for fewer than 6 samples no 95 % interval exists and [min, max] is returned
  with its lower coverage).
* ``mean_interval(xs)``: the mean with a Student-t interval (seeds of a quality figure).
* ``interval_verdict(target, lo, hi)``: "met" when the whole interval satisfies the target, "missed" when
  none of it does, "within noise" when the interval straddles the threshold.

Verdict words (``VERDICTS``): "met", "missed", "within noise", "not judged". A figure judged from fewer
than ``MIN_SEEDS`` seeds carries ``indicative: true`` next to its verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["VERDICTS", "MIN_SEEDS", "Interval", "median", "median_interval", "mean_interval", "t_quantile",
           "interval_verdict", "point_verdict"]

VERDICTS = ("met", "missed", "within noise", "not judged")
MIN_SEEDS = 3   # fewer seeds than this: a verdict is "indicative"

# two-sided 95 % Student-t quantiles t_{0.975, df} for df = 1..30
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval [lo, hi] and the interval's nominal coverage (0.95 or less)."""

    center: float
    lo: float
    hi: float
    coverage: float
    n: int

    def widened(self, by: float) -> "Interval":
        """[lo - by, hi + by] (the noise floor's bias added on both sides)."""
        return Interval(self.center, self.lo - by, self.hi + by, self.coverage, self.n)


def _finite(xs, what: str) -> list[float]:
    vals = [float(x) for x in xs]
    if not vals:
        raise ValueError(f"{what}: no values")
    bad = [x for x in vals if not math.isfinite(x)]
    if bad:
        raise ValueError(f"{what}: values must be finite numbers, got {bad[:3]}")
    return vals


def median(xs) -> float:
    v = sorted(_finite(xs, "median"))
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def _binom_cdf_half(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2)."""
    return math.fsum(math.comb(n, i) for i in range(0, k + 1)) / 2.0 ** n


def median_interval(xs, confidence: float = 0.95) -> Interval:
    """Median of ``xs`` with the order-statistics interval [x_(l), x_(n-l+1)] of coverage >= ``confidence``.

    l is the largest rank with P(B <= l-1) <= (1-confidence)/2, B ~ Binomial(n, 1/2). When even l = 1 does
    not reach ``confidence`` (n < 6 at 95 %) the interval is [min, max] and ``coverage`` says what it covers.
    """
    v = sorted(_finite(xs, "median_interval"))
    n = len(v)
    alpha = (1.0 - confidence) / 2.0
    l = 0
    while l + 1 <= n // 2 and _binom_cdf_half(l, n) <= alpha:   # rank l+1 (1-based) still inside the tail
        l += 1
    l = max(l, 1)
    coverage = 1.0 - 2.0 * _binom_cdf_half(l - 1, n)
    return Interval(median(v), v[l - 1], v[n - l], coverage, n)


def t_quantile(df: int) -> float:
    """Two-sided 95 % Student-t quantile (table to df 30, Cornish-Fisher beyond)."""
    if df < 1:
        raise ValueError(f"df={df} must be >= 1")
    return _T975[df - 1] if df <= 30 else 1.959964 + 2.37 / df


def mean_interval(xs) -> Interval:
    """Mean with the 95 % Student-t interval mean +- t * s / sqrt(n); one value gives a zero-width interval (n=1)."""
    v = _finite(xs, "mean_interval")
    n = len(v)
    m = math.fsum(v) / n
    if n < 2:
        return Interval(m, m, m, 0.0, n)
    s = math.sqrt(math.fsum((x - m) ** 2 for x in v) / (n - 1))
    h = t_quantile(n - 1) * s / math.sqrt(n)
    return Interval(m, m - h, m + h, 0.95, n)


def interval_verdict(op: str, threshold: float, lo: float, hi: float) -> str:
    """Judge the interval [lo, hi] of the compared quantity against ``op threshold``.

    ``op`` in "<=", "<", ">=", ">" (one-sided) or "within" (|x| <= threshold, the interval being of the
    signed difference). "met": every point of the interval satisfies the target; "missed": none does;
    "within noise": the interval straddles the threshold.
    """
    if lo > hi:
        raise ValueError(f"interval [{lo}, {hi}] is empty (lo > hi)")
    t = threshold
    eps = 1e-9 * max(1.0, abs(t))   # floating-point slack: the mean of three 0.2's is 0.20000000000000004
    if op in ("<=", "<"):
        ok = (lambda x: x <= t + eps) if op == "<=" else (lambda x: x < t)
        return "met" if ok(hi) else ("missed" if not ok(lo) else "within noise")
    if op in (">=", ">"):
        ok = (lambda x: x >= t - eps) if op == ">=" else (lambda x: x > t)
        return "met" if ok(lo) else ("missed" if not ok(hi) else "within noise")
    if op == "within":
        if -t - eps <= lo and hi <= t + eps:
            return "met"
        if lo > t or hi < -t:
            return "missed"
        return "within noise"
    raise ValueError(f"op={op!r} is not a target operator; valid: <=, <, >=, >, within")


def point_verdict(met: bool | None) -> str:
    """Verdict of a figure without an interval: met / missed, "not judged" when undefined."""
    return "met" if met is True else ("missed" if met is False else "not judged")
