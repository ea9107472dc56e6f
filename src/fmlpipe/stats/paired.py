"""The verdict of method A against a reference B on paired observations: the same seeds, or the
same clients within one seed. Pairing removes what the two share (a seed's data split and
initialisation), so a difference smaller than the spread across seeds can still be seen."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from fmlpipe.stats.intervals import check_confidence, interval

BETTER = "better"
WORSE = "worse"
ONE_PAIR = "n/a (1 pair)"


def no_difference(confidence: float) -> str:
    """The verdict when the interval of the mean difference contains 0, e.g. 'no difference at 95%'."""
    # round() so that 0.95 prints as 95 and not 94.99999999999999 on some platforms
    return f"no difference at {round(100 * confidence, 6):g}%"


SAME = no_difference(0.95)


@dataclass(frozen=True)
class PairedComparison:
    n: int
    mean_diff: float  # mean of A − B
    low: float | None  # t interval of the mean difference; None for one pair
    high: float | None
    p_value: float | None  # two-sided paired t-test; None for one pair
    verdict: str  # BETTER, WORSE, no_difference(confidence) or ONE_PAIR
    confidence: float


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    if len(a) != len(b):
        raise ValueError(f"paired observations need equal lengths, got {len(a)} for A and {len(b)} for B")
    if len(a) == 0:
        raise ValueError("paired observations are empty")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.all(np.isfinite(diff)):
        raise ValueError(f"paired observations must be finite, got differences {list(map(float, diff))}")
    return diff


def _verdict(low: float, high: float, confidence: float) -> str:
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return no_difference(confidence)


def compare_paired(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> PairedComparison:
    """Is A better than B? Better iff the whole t interval of the mean of A − B lies above 0,
    worse iff below, else no difference at that confidence."""
    check_confidence(confidence)
    diff = _differences(a, b)
    n = int(diff.size)
    if n == 1:
        return PairedComparison(1, float(diff[0]), None, None, None, ONE_PAIR, confidence)
    if np.all(diff == diff[0]):
        # No spread: the t statistic is ±inf (or 0/0 when all are 0), so the interval is the point itself.
        # Checked by equality, not std == 0, as the float mean of equal values can be off by an ulp.
        point = float(diff[0])
        p_value = 1.0 if point == 0 else 0.0
        return PairedComparison(n, point, point, point, p_value, _verdict(point, point, confidence), confidence)
    ci = interval(diff.tolist(), confidence)
    assert ci.std is not None and ci.low is not None and ci.high is not None  # n ≥ 2
    t = ci.mean / (ci.std / math.sqrt(n))
    p_value = float(2 * special.stdtr(n - 1, -abs(t)))  # two-sided: 2 * scipy.stats.t.sf(|t|, n - 1)
    return PairedComparison(n, ci.mean, ci.low, ci.high, p_value, _verdict(ci.low, ci.high, confidence), confidence)


def detectable_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> float | None:
    """The half-width of the interval of the mean difference: methods closer than this cannot be
    told apart with these pairs. None for a single pair."""
    result = compare_paired(a, b, confidence)
    if result.low is None or result.high is None:
        return None
    return (result.high - result.low) / 2
