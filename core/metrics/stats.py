"""Intervals and verdicts: how a benchmark figure with a spread is judged against its target.

* ``median_interval(xs)``: the median with a distribution-free confidence interval from order statistics
  (exact binomial ranks; for fewer than 6 samples no 95 % interval exists and [min, max] is returned
  with its lower coverage).
* ``mean_interval(xs)``: the mean with a Student-t interval (seeds of a quality figure).
* ``interval_verdict(target, lo, hi)``: "met" when the whole interval satisfies the target, "missed" when
  none of it does, "within noise" when the interval straddles the threshold.

* ``parse_target("<= 0.5")`` and ``judge_seeds(values, baseline, target)``: a figure over seeds held against
  its target -- paired by seed when there is a baseline (per-seed ratio for '<= X' ..., relative difference
  for 'within X%', difference for 'within X') -- through the t interval of the mean. The benchmark context
  (``benchmarks.context.record_seeds``) and the apps' own reports judge with this one function.

Verdict words (``VERDICTS``): "met", "missed", "within noise", "not judged". A figure judged from fewer
than ``MIN_SEEDS`` seeds carries ``indicative: true`` next to its verdict.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["VERDICTS", "MIN_SEEDS", "TARGET_OPS", "Interval", "Target", "median", "median_interval", "mean_interval",
           "t_quantile", "interval_verdict", "point_verdict", "parse_target", "judge_seeds"]

TARGET_OPS = ("<=", ">=", "<", ">", "within")
_TARGET_RE = re.compile(r"^\s*(<=|>=|<|>|within)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*$")

VERDICTS = ("met", "missed", "within noise", "not judged")
MIN_SEEDS = 3   # fewer seeds than this: a verdict is "indicative"



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


def t_quantile(df: int, confidence: float = 0.95) -> float:
    """Two-sided Student-t quantile ``t_{(1+confidence)/2, df}`` (``scipy.stats.t.ppf``; 95 %: 12.706 at df 1,
    2.776 at df 4, 2.042 at df 30)."""
    if isinstance(df, bool) or not isinstance(df, (int, float)) or df < 1:
        raise ValueError(f"df={df} must be >= 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must be in (0, 1)")
    return _t_ppf(0.5 + confidence / 2.0, float(df))


@lru_cache(maxsize=256)
def _t_ppf(q: float, df: float) -> float:
    from scipy.stats import t   # imported on first use: scipy.stats takes a moment to load

    return float(t.ppf(q, df))


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


@dataclass(frozen=True)
class Target:
    """A parsed target: ``op`` in TARGET_OPS, ``threshold``; ``relative`` only for "within N%"."""

    op: str
    threshold: float
    relative: bool = False

    def __str__(self) -> str:
        if self.relative:
            return f"within {self.threshold * 100:g}%"
        return f"{self.op} {self.threshold:g}"


def parse_target(text: str) -> Target:
    """``"<= 1.02"`` -> Target("<=", 1.02). ValueError naming the valid forms for anything else."""
    if not isinstance(text, str):
        raise ValueError(f"target={text!r} must be a string such as '<= 1.02', '>= 1.5', 'within 0.05'")
    m = _TARGET_RE.match(text)
    if m is None:
        raise ValueError(f"target={text!r} is not understood; valid forms: '<= X', '>= X', '< X', '> X', "
                         f"'within X' (absolute, to the baseline) or 'within X%' (relative), X a number")
    op, num, pct = m.group(1), float(m.group(2)), m.group(3) == "%"
    if pct and op != "within":
        raise ValueError(f"target={text!r}: '%' is only valid with 'within' (e.g. 'within 5%')")
    if op == "within" and num < 0:
        raise ValueError(f"target={text!r}: the tolerance of 'within' must be >= 0")
    return Target(op, num / 100.0 if pct else num, relative=pct)


def judge_seeds(values, baseline, target: str | Target) -> dict:
    """Judge per-seed ``values`` (a list) against ``target``; ``baseline`` (a list of the same seeds, same
    order, or None) makes it a paired comparison: '<= X' / '>= X' ... on the per-seed ratio value/baseline,
    'within X%' on the per-seed relative difference, 'within X' on the per-seed difference. Returns
    ``{"compared": mean, "interval": [lo, hi], "judged_on": ..., "verdict": met | missed | within noise}`` (the
    95 % t interval of the mean; one seed gives a zero-width interval, i.e. a point verdict)."""
    t = target if isinstance(target, Target) else parse_target(target)
    vals = _finite(values, "judge_seeds")
    if t.op == "within" and baseline is None:
        raise ValueError(f"target {str(t)!r} needs a baseline (the per-seed difference is judged)")
    if baseline is None:
        q, judged_on = vals, "mean"
    else:
        base = _finite(baseline, "judge_seeds baseline")
        if len(base) != len(vals):
            raise ValueError(f"{len(vals)} values but {len(base)} baseline values: the comparison is paired by seed")
        if (t.op != "within" or t.relative) and any(b == 0 for b in base):
            raise ValueError("a baseline value is 0: the per-seed ratio is undefined; use 'within X'")
        if t.op != "within":
            q, judged_on = [v / b for v, b in zip(vals, base)], "paired ratio"
        elif t.relative:
            q, judged_on = [v / b - 1.0 for v, b in zip(vals, base)], "paired relative difference"
        else:
            q, judged_on = [v - b for v, b in zip(vals, base)], "paired difference"
    qi = mean_interval(q)
    return {"compared": qi.center, "interval": [qi.lo, qi.hi], "judged_on": judged_on,
            "verdict": interval_verdict(t.op, t.threshold, qi.lo, qi.hi)}
