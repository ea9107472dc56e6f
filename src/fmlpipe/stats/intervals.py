"""Student-t confidence interval for the mean of a few observations (seeds, clients)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    std: float | None  # sample std (ddof=1); None for one observation
    low: float | None  # None for one observation: no interval can be stated
    high: float | None
    confidence: float

    @property
    def half_width(self) -> float | None:
        """Half the interval's width; None when there is no interval."""
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2


def check_confidence(confidence: float) -> None:
    """Fail on a confidence level outside (0, 1), naming the value."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


def t_quantile(confidence: float, dof: int) -> float:
    """The two-sided critical value t_{(1+c)/2, dof}: Student's t inverse CDF, the function
    ``scipy.stats.t.ppf`` calls (scipy.special imports in a fraction of scipy.stats' second)."""
    return float(special.stdtrit(dof, (1.0 + confidence) / 2.0))


def interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """mean ± t_{(1+c)/2, n-1} · s / √n over ``values``; without bounds for a single value."""
    check_confidence(confidence)
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("an interval needs at least one value, got none")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"values must be finite, got {list(map(float, arr))}")
    n = int(arr.size)
    mean = float(arr.mean())
    if n == 1:
        return Interval(n, mean, None, None, None, confidence)
    std = float(arr.std(ddof=1))
    half = t_quantile(confidence, n - 1) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half, confidence)
