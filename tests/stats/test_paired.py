from __future__ import annotations

import math

import pytest
from scipy import stats

from fmlpipe.stats.paired import (
    BETTER,
    ONE_PAIR,
    SAME,
    WORSE,
    PairedComparison,
    compare_paired,
    detectable_difference,
    no_difference,
)

T_975_3 = 3.182446305284263  # t_{0.975, 3} from the tables


def p_two_sided_df3(t: float) -> float:
    """Student t with 3 degrees of freedom in closed form: P(|T| > t) = 1 − (2/π)(x/(1+x²) + atan x), x = t/√3."""
    x = abs(t) / math.sqrt(3)
    return 1 - 2 / math.pi * (x / (1 + x * x) + math.atan(x))


def test_closed_form_matches_scipy() -> None:
    # Cross-check of the helper only, at the two statistics used below.
    for t in (math.sqrt(24), math.sqrt(3 / 5)):
        assert p_two_sided_df3(t) == pytest.approx(2 * stats.t.sf(t, 3), rel=1e-9)


def test_better_by_hand() -> None:
    a, b = [3.0, 5.0, 4.0, 6.0], [1.0, 2.0, 3.0, 4.0]
    # differences 2, 3, 1, 2: mean 2, squared deviations 0 + 1 + 1 + 0 = 2, s = √(2/3), se = s/2
    # t = 2 / (√(2/3)/2) = √24 = 4.898979...; p = 0.0162766...
    se = math.sqrt(2 / 3) / 2
    r = compare_paired(a, b)
    assert (r.n, r.mean_diff, r.verdict, r.confidence) == (4, 2.0, BETTER, 0.95)
    assert r.p_value == pytest.approx(p_two_sided_df3(math.sqrt(24)), rel=1e-9)
    assert r.p_value == pytest.approx(0.016276603459428, rel=1e-9)
    assert r.low == pytest.approx(2 - T_975_3 * se, rel=1e-9)  # 0.70077...
    assert r.high == pytest.approx(2 + T_975_3 * se, rel=1e-9)  # 3.29923...
    assert detectable_difference(a, b) == pytest.approx(T_975_3 * se, rel=1e-9)  # 1.29923...


def test_worse_is_the_mirror_image() -> None:
    r = compare_paired([1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 4.0, 6.0])
    assert (r.mean_diff, r.verdict) == (-2.0, WORSE)
    assert r.high == pytest.approx(-2 + T_975_3 * math.sqrt(2 / 3) / 2, rel=1e-9)
    assert r.p_value == pytest.approx(p_two_sided_df3(math.sqrt(24)), rel=1e-9)


def test_interval_across_zero_is_no_difference() -> None:
    a, b = [2.0, 1.0, 5.0, 4.0], [1.0, 2.0, 3.0, 4.0]
    # differences 1, −1, 2, 0: mean 0.5, squared deviations 0.25 + 2.25 + 2.25 + 0.25 = 5, s = √(5/3)
    # t = 0.5 / (s/2) = √(3/5); half width t_{0.975,3} · s/2 = 2.0543 > 0.5
    r = compare_paired(a, b)
    assert r.verdict == SAME == "no difference at 95%"
    assert r.mean_diff == 0.5
    assert r.low == pytest.approx(0.5 - T_975_3 * math.sqrt(5 / 3) / 2, rel=1e-9)
    assert r.p_value == pytest.approx(p_two_sided_df3(math.sqrt(3 / 5)), rel=1e-9)  # 0.4950...
    assert compare_paired(a, b, confidence=0.9).verdict == "no difference at 90%" == no_difference(0.9)


def test_identical_nonzero_differences_collapse_to_a_point() -> None:
    assert compare_paired([3.0, 4.0, 5.0], [1.0, 2.0, 3.0]) == PairedComparison(3, 2.0, 2.0, 2.0, 0.0, BETTER, 0.95)
    assert compare_paired([1.0, 2.0, 3.0], [3.0, 4.0, 5.0]) == PairedComparison(3, -2.0, -2.0, -2.0, 0.0, WORSE, 0.95)
    assert detectable_difference([3.0, 4.0, 5.0], [1.0, 2.0, 3.0]) == 0.0


def test_all_zero_differences_are_no_difference() -> None:
    r = compare_paired([0.8, 0.9], [0.8, 0.9])
    assert r == PairedComparison(2, 0.0, 0.0, 0.0, 1.0, SAME, 0.95)


def test_one_pair_has_no_verdict() -> None:
    r = compare_paired([0.8], [0.5])
    assert (r.n, r.low, r.high, r.p_value, r.verdict) == (1, None, None, None, ONE_PAIR)
    assert r.verdict == "n/a (1 pair)"
    assert r.mean_diff == pytest.approx(0.3)
    assert detectable_difference([0.8], [0.5]) is None


def test_unequal_lengths_name_both() -> None:
    with pytest.raises(ValueError, match="got 3 for A and 2 for B"):
        compare_paired([1.0, 2.0, 3.0], [1.0, 2.0])


def test_empty_and_non_finite_fail() -> None:
    with pytest.raises(ValueError, match="empty"):
        compare_paired([], [])
    with pytest.raises(ValueError, match="finite"):
        compare_paired([1.0, float("inf")], [1.0, 2.0])
