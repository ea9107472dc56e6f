from __future__ import annotations

import math

import pytest

from fmlpipe.stats.convergence import (
    StretchCheck,
    all_converged,
    check_convergence,
    check_many,
    stretch_ends_from_lrs,
)

FLAT = [4.0, 3.0, 2.0, 1.2, 1.0, 1.0, 0.99, 0.98]
FALLING = [4.0, 3.0, 2.0, 1.6, 1.2, 1.0]
NAN = float("nan")


def test_flat_tail_converges() -> None:
    c = check_convergence(FLAT, [8], window=2, tolerance=0.05)
    # previous: rounds 5–6, (1.0 + 1.0)/2 = 1.0; last: rounds 7–8, (0.99 + 0.98)/2 = 0.985; change 0.015/1.0
    assert c.checks == (StretchCheck(8, 8, 1.0, pytest.approx(0.985), pytest.approx(0.015), True,
                                     "train loss changed -1.5%"),)
    assert c.converged
    assert c.describe() == "converged: train loss changed -1.5% over the last 2 rounds up to round 8 (tolerance 5%)"


def test_still_falling_tail_is_under_trained() -> None:
    c = check_convergence(FALLING, [6], window=2, tolerance=0.05)
    # previous: (2.0 + 1.6)/2 = 1.8; last: (1.2 + 1.0)/2 = 1.1; change 0.7/1.8 = 0.3889
    check = c.checks[0]
    assert (check.previous_mean, check.last_mean) == (pytest.approx(1.8), pytest.approx(1.1))
    assert check.relative_change == pytest.approx(0.7 / 1.8)
    assert not check.levelled and not c.converged
    assert c.describe() == ("under-trained: train loss still falling 38.9% over the last 2 rounds up to round 6 "
                            "(tolerance 5%)")


def test_tolerance_is_inclusive() -> None:
    # previous (2 + 2)/2 = 2, last (1.5 + 1.5)/2 = 1.5: change exactly 0.25 in binary floating point
    losses = [2.0, 2.0, 1.5, 1.5]
    assert check_convergence(losses, [4], window=2, tolerance=0.25).converged
    assert not check_convergence(losses, [4], window=2, tolerance=0.24).converged


def test_rising_loss_does_not_level_off() -> None:
    c = check_convergence([1.0, 1.0, 1.5, 2.0], [4], window=2, tolerance=0.05)
    # previous 1.0, last 1.75: (1.0 − 1.75)/1.0 = −0.75
    assert c.checks[0].relative_change == -0.75
    assert c.describe() == "not converged: train loss rising 75.0% over the last 2 rounds up to round 4 (tolerance 5%)"


def test_falling_before_an_lr_decay_is_under_trained_though_the_end_is_flat() -> None:
    losses = [4.0, 3.0, 2.0, 1.0, 0.9, 0.9, 0.9, 0.9]
    # Judged on its end only, the run looks converged ...
    assert check_convergence(losses, [8], window=2, tolerance=0.05).converged
    # ... but the lr decays after round 4 while the loss falls: (3.5 − 1.5)/3.5 = 0.5714
    c = check_convergence(losses, [4, 8], window=2, tolerance=0.05)
    first, second = c.checks
    assert (first.end, first.rounds, first.levelled) == (4, 4, False)
    assert first.relative_change == pytest.approx(2 / 3.5)
    assert (second.end, second.rounds, second.relative_change, second.levelled) == (8, 4, 0.0, True)
    assert not c.converged
    assert c.describe() == ("under-trained: train loss still falling 57.1% over the last 2 rounds before the lr "
                            "decay after round 4 (tolerance 5%)")


def test_too_short_stretch_cannot_be_judged() -> None:
    c = check_convergence([3.0, 2.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9], [3, 8], window=2, tolerance=0.05)
    assert c.checks[0] == StretchCheck(3, 3, None, None, None, False,
                                       "stretch of 3 rounds is shorter than 2 × window = 4")
    assert c.checks[1].levelled and not c.converged
    assert c.describe() == ("not converged: stretch of 3 rounds is shorter than 2 × window = 4 "
                            "(rounds 1–3, before the lr decay; tolerance 5%)")


def test_non_finite_loss_does_not_level_off() -> None:
    # NaN inside the judged windows
    c = check_convergence([3.0, 2.0, 1.0, 1.0, NAN, NAN], [6], window=2, tolerance=0.05)
    assert c.checks[0] == StretchCheck(6, 6, None, None, None, False, "non-finite train loss at round 5")
    assert c.describe() == "not converged: non-finite train loss at round 5 (rounds 1–6; tolerance 5%)"
    # an inf early in the second stretch, outside its windows, still counts
    c = check_convergence([2.0, 2.0, 2.0, 2.0, math.inf, 1.0, 1.0, 1.0, 1.0, 1.0], [4, 10], window=2, tolerance=0.05)
    assert [x.levelled for x in c.checks] == [True, False]
    assert c.checks[1].reason == "non-finite train loss at round 5"


def test_several_models_converge_only_together() -> None:
    results = check_many({"local": FLAT[:6], "meme": FALLING}, [6], window=2, tolerance=0.05)
    # local: rounds 3–4 average (2.0 + 1.2)/2 = 1.6, rounds 5–6 average 1.0: still falling 0.6/1.6
    assert results["local"].checks[0].relative_change == pytest.approx(0.6 / 1.6)
    assert not all_converged(results)
    flat = check_many({"local": [1.0, 1.0, 1.0, 1.0], "meme": [2.0, 2.0, 2.0, 1.98]}, [4], window=2, tolerance=0.05)
    assert all_converged(flat)
    mixed = check_many({"local": [1.0, 1.0, 1.0, 1.0], "meme": [2.0, 2.0, 1.0, 1.0]}, [4], window=2, tolerance=0.05)
    assert mixed["local"].converged and not all_converged(mixed)


@pytest.mark.parametrize(("losses", "ends", "window", "tolerance", "message"), [
    ([], [1], 1, 0.05, "empty"),
    ([1.0, 1.0], [1], 1, 0.05, "last round 2"),
    ([1.0, 1.0, 1.0], [2, 2, 3], 1, 0.05, "rise strictly"),
    ([1.0, 1.0], [0, 2], 1, 0.05, "rise strictly"),
    ([1.0, 1.0], [2], 0, 0.05, "window"),
    ([1.0, 1.0], [2], 1, -0.1, "tolerance"),
])
def test_bad_inputs_fail(losses: list[float], ends: list[int], window: int, tolerance: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_convergence(losses, ends, window, tolerance)


def test_nothing_to_combine_fails() -> None:
    with pytest.raises(ValueError):
        check_many({}, [1], window=1, tolerance=0.05)
    with pytest.raises(ValueError):
        all_converged({})


def test_constant_lr_has_one_stretch() -> None:
    assert stretch_ends_from_lrs([0.01] * 12) == [12]


def test_step_decays_end_stretches() -> None:
    # 0.01, ×0.1 after rounds 4 and 8, as fmlpipe's step schedule computes it
    lrs = [0.01 * 0.1 ** ((r - 1) // 4) for r in range(1, 13)]
    assert stretch_ends_from_lrs(lrs) == [4, 8, 12]
    halving = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]  # to half exactly is a step too
    assert stretch_ends_from_lrs(halving) == [3, 6, 7]
    assert stretch_ends_from_lrs([1.0, 1.0, 0.6, 0.6]) == [4]  # to 60%: too gentle for a step


def test_cosine_schedule_has_one_stretch() -> None:
    rounds = 20
    lrs = [0.01 * 0.5 * (1 + math.cos(math.pi * (r - 1) / rounds)) for r in range(1, rounds + 1)]
    # Its last per-round ratios fall below one half (≈ 4/9, then ≈ 1/4): a ratio alone would cut there.
    assert lrs[18] / lrs[17] < 0.5 and lrs[19] / lrs[18] < 0.3
    assert stretch_ends_from_lrs(lrs) == [20]


def test_decay_every_round_has_one_stretch() -> None:
    assert stretch_ends_from_lrs([1.0, 0.1, 0.01, 0.001]) == [4]


def test_bad_lrs_fail() -> None:
    with pytest.raises(ValueError, match="empty"):
        stretch_ends_from_lrs([])
    with pytest.raises(ValueError, match="finite"):
        stretch_ends_from_lrs([0.1, NAN])


def test_a_loss_near_zero_that_keeps_halving_levels_off_by_the_absolute_floor() -> None:
    # 0.08, 0.04, 0.02, 0.01: the last two rounds average 0.015 against 0.06 before, a fall of 75%
    # (never within a relative tolerance), but only 0.045 nats: levelled off with min_delta 0.05
    losses = [0.08, 0.04, 0.02, 0.01]
    relative_only = check_convergence(losses, [4], window=2, tolerance=0.05)
    floored = check_convergence(losses, [4], window=2, tolerance=0.05, min_delta=0.05)
    assert not relative_only.converged and floored.converged
    assert floored.checks[0].relative_change == pytest.approx(0.75)
    assert not check_convergence(losses, [4], window=2, tolerance=0.05, min_delta=0.04).converged
    # the line says which rule judged it levelled: the absolute floor, not the relative tolerance
    assert floored.describe() == ("converged: train loss changed -75.0%, by 0.045 nats (min_delta 0.05) "
                                  "over the last 2 rounds up to round 4 (tolerance 5%)")
