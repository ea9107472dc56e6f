from __future__ import annotations

import math

import pytest
from scipy import stats

from fmlpipe.stats.intervals import Interval, interval

T_975_3 = 3.182446305284263  # t_{0.975, 3} from the tables
T_95_3 = 2.353363434801823  # t_{0.95, 3}


def test_table_quantiles_match_scipy() -> None:
    # Cross-check only: the expected numbers below use the table values, not scipy.
    assert stats.t.ppf(0.975, 3) == pytest.approx(T_975_3, rel=1e-9)
    assert stats.t.ppf(0.95, 3) == pytest.approx(T_95_3, rel=1e-9)


def test_interval_of_four_values_by_hand() -> None:
    ci = interval([1.0, 2.0, 3.0, 4.0])
    # mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, s = √(5/3) = 1.2909944...
    s = math.sqrt(5 / 3)
    half = T_975_3 * s / math.sqrt(4)  # = 2.0542602567...
    assert ci.n == 4 and ci.mean == 2.5 and ci.confidence == 0.95
    assert ci.std == pytest.approx(1.2909944487358056, rel=1e-12)
    assert ci.half_width == pytest.approx(2.054260256760879, rel=1e-9)
    assert ci.low == pytest.approx(2.5 - half, rel=1e-9)  # 0.4457397...
    assert ci.high == pytest.approx(2.5 + half, rel=1e-9)  # 4.5542602...


def test_confidence_picks_the_quantile() -> None:
    # 90%: the two-sided quantile is t_{0.95, 3}, not t_{0.90, 3}
    ci = interval([1.0, 2.0, 3.0, 4.0], confidence=0.9)
    assert ci.half_width == pytest.approx(T_95_3 * math.sqrt(5 / 3) / 2, rel=1e-9)  # 1.5190...


def test_two_values_use_one_degree_of_freedom() -> None:
    # df = 1 is the Cauchy distribution: t_{0.975, 1} = tan(π · 0.475) = 12.7062...
    # [1, 3]: mean 2, s = √2, so the half width s/√2 · t is t itself.
    ci = interval([1.0, 3.0])
    assert ci.std == pytest.approx(math.sqrt(2), rel=1e-12)
    assert ci.half_width == pytest.approx(math.tan(math.pi * 0.475), rel=1e-9)


def test_one_value_has_no_interval() -> None:
    assert interval([0.7]) == Interval(n=1, mean=0.7, std=None, low=None, high=None, confidence=0.95)
    assert interval([0.7]).half_width is None


def test_zero_spread_gives_a_point() -> None:
    ci = interval([2.0, 2.0, 2.0])
    assert (ci.low, ci.high, ci.half_width) == (2.0, 2.0, 0.0)


@pytest.mark.parametrize(("values", "confidence", "message"), [
    ([], 0.95, "at least one value"),
    ([1.0, float("nan")], 0.95, "finite"),
    ([1.0, 2.0], 1.0, "confidence"),
    ([1.0, 2.0], 0.0, "confidence"),
])
def test_bad_inputs_fail(values: list[float], confidence: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        interval(values, confidence)
