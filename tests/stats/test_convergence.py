"""The convergence check on constructed loss histories; every expected number is worked out by
hand in the comment above it."""

from __future__ import annotations

import math

import pytest

from fmlpipe.stats.convergence import (
    StretchCheck,
    all_converged,
    check_convergence,
    check_many,
    fitted_line,
    stretch_ends_from_lrs,
)

NAN = float("nan")


def test_fitted_line_is_least_squares() -> None:
    # x = 0, 1, 2; mean y = 7/3; slope = ((−1)(1 − 7/3) + (1)(4 − 7/3)) / 2 = 3/2; at x = 0: 7/3 − 3/2
    start, slope = fitted_line([1.0, 2.0, 4.0])
    assert (start, slope) == (pytest.approx(5 / 6), pytest.approx(1.5))
    assert fitted_line([2.0, 2.0]) == (2.0, 0.0)
    with pytest.raises(ValueError, match="2 values"):
        fitted_line([1.0])


def test_a_tail_that_made_little_of_the_progress_converges() -> None:
    c = check_convergence([5.0, 3.0, 1.1, 1.05, 1.0], [5], window=3, tolerance=0.05)
    # last 3 rounds: slope −0.05, so the line falls 0.1 and ends at 1.0; fall from the highest
    # loss (round 1's): 5.0 − 1.0 = 4.0; share 0.1 / 4.0 = 2.5%
    assert c.checks == (StretchCheck(5, 5, pytest.approx(0.1), pytest.approx(4.0), pytest.approx(0.025), True,
                                     "train loss fell 2.5% of its fall so far"),)
    assert c.converged
    assert c.describe() == ("converged: train loss fell 2.5% of its fall so far over the last 3 rounds "
                            "up to round 5 (tolerance 5%)")


def test_still_falling_tail_is_under_trained() -> None:
    c = check_convergence([4.0, 2.0, 1.1, 1.0, 0.9], [5], window=3, tolerance=0.05)
    # last 3 rounds: slope −0.1, the line falls 0.2 to 0.9; fall from the highest (round 1): 3.1; share 0.2 / 3.1
    check = c.checks[0]
    assert (check.fall, check.progress, check.share) == (pytest.approx(0.2), pytest.approx(3.1),
                                                         pytest.approx(0.2 / 3.1))
    assert not check.levelled and not c.converged
    assert c.describe() == ("under-trained: train loss still falling: 6.5% of its fall so far over the "
                            "last 3 rounds up to round 5 (tolerance 5%)")


def test_noise_around_a_level_averages_out_in_the_line() -> None:
    # 10 rounds zigzagging 0.6, 0.5, ... around 0.55 after a fall from 2.0. Two 3-round means would
    # read a fall of (0.5667 − 0.5333) / 0.5667 = 5.9%; the line through all 10 has slope
    # 0.05 × Σ (i − 4.5)(−1)^i / Σ (i − 4.5)² = 0.05 × −5 / 82.5, so it falls 9 × 0.25 / 82.5 = 0.02727
    # and ends at 0.55 − 4.5 × 0.25 / 82.5 = 0.53636; share 0.02727 / (2.0 − 0.53636) = 1.86%
    tail = [0.6 if i % 2 == 0 else 0.5 for i in range(10)]
    c = check_convergence([2.0, 1.0, *tail], [12], window=10, tolerance=0.05)
    check = c.checks[0]
    assert check.fall == pytest.approx(9 * 0.25 / 82.5)
    assert check.share == pytest.approx((9 * 0.25 / 82.5) / (2.0 - (0.55 - 4.5 * 0.25 / 82.5)))
    assert check.levelled


def test_a_loss_that_keeps_halving_levels_off_against_its_progress() -> None:
    # 1, 1/2, ..., 2^−11: relative to its own level it falls 50% a round to the end. The line
    # through the last 3 rounds falls 2^−9 − 2^−11 = 0.00146 (its end, computed below, sits a
    # little under 2^−11); against a fall of almost 1.0 from round 1 that is about 0.15%
    losses = [2.0 ** -k for k in range(12)]
    c = check_convergence(losses, [12], window=3, tolerance=0.05)
    start, slope = (2 ** -9 + 2 ** -10 + 2 ** -11) / 3 - (2 ** -11 - 2 ** -9) / 2, (2 ** -11 - 2 ** -9) / 2
    end = start + 2 * slope
    assert c.checks[0].fall == pytest.approx(2 ** -9 - 2 ** -11)
    assert c.checks[0].share == pytest.approx((2 ** -9 - 2 ** -11) / (1.0 - end))
    assert c.converged
    # the first rounds of the same halving are still far from done: 0.1875 / (1 − 0.05208) = 19.8%
    early = check_convergence(losses[:5], [5], window=3, tolerance=0.05)
    assert early.checks[0].share == pytest.approx(0.1875 / (1.0 - (0.4375 / 3 - 0.09375)))
    assert not early.converged


def test_the_fall_is_measured_from_the_highest_loss_not_round_1() -> None:
    # FML's loss starts low (its KL term is near 0 while two untrained models agree), then rises.
    # The line through the flat 0.3, 0.3, 0.3 falls 0, against 0.6 − 0.3 = 0.3 from the highest:
    c = check_convergence([0.3, 0.6, 0.4, 0.3, 0.3, 0.3], [6], window=3, tolerance=0.05)
    assert (c.checks[0].fall, c.checks[0].progress) == (0.0, pytest.approx(0.3))
    assert c.converged  # against round 1's 0.3 there would be no fall at all
    # a small rise within the tolerance says so: the line through 0.30, 0.30, 0.31 rises 0.01,
    # to 0.3083 (its end), against 0.6 − 0.3083 = 0.2917 from the highest: 3.4%
    rose = check_convergence([0.3, 0.6, 0.4, 0.30, 0.30, 0.31], [6], window=3, tolerance=0.05)
    assert rose.converged and rose.checks[0].reason == "train loss rose 3.4% of its fall so far"
    # still falling: the line through 0.4, 0.39, 0.38 falls 0.02 to 0.38, of 0.6 − 0.38 = 0.22: 9.1%
    falling = check_convergence([0.3, 0.6, 0.5, 0.4, 0.39, 0.38], [6], window=3, tolerance=0.05)
    assert falling.checks[0].share == pytest.approx(0.02 / 0.22)
    assert not falling.converged


def test_tolerance_is_inclusive() -> None:
    # last 2 rounds: the line falls 0.5 to 1.0; from its highest (round 1) it fell 2.0: exactly 0.25
    losses = [3.0, 2.0, 1.5, 1.0]
    assert check_convergence(losses, [4], window=2, tolerance=0.25).converged
    assert not check_convergence(losses, [4], window=2, tolerance=0.24).converged


def test_rising_loss_does_not_level_off() -> None:
    c = check_convergence([2.0, 1.0, 1.0, 1.2, 1.4], [5], window=3, tolerance=0.05)
    # last 3 rounds: slope +0.2, the line rises 0.4 to 1.4; fall from the highest (round 1): 0.6; share −0.4/0.6
    assert c.checks[0].share == pytest.approx(-2 / 3)
    assert c.describe() == ("not converged: train loss rising: 66.7% of its fall so far over the last "
                            "3 rounds up to round 5 (tolerance 5%)")


def test_a_loss_that_never_fell_does_not_level_off() -> None:
    c = check_convergence([1.0, 1.1, 1.2], [3], window=3, tolerance=0.05)
    # the line ends at 1.2, its highest loss: no progress to measure a share of
    assert c.checks[0].progress == pytest.approx(0.0, abs=1e-12) and c.checks[0].share is None
    assert c.describe() == ("not converged: train loss has not fallen from its highest (rounds 1–3; tolerance 5%)")


def test_falling_before_an_lr_decay_is_under_trained_though_the_end_is_flat() -> None:
    losses = [4.0, 3.0, 2.0, 1.0, 0.9, 0.9, 0.9, 0.9]
    # Judged on its end only, the run looks converged ...
    assert check_convergence(losses, [8], window=3, tolerance=0.05).converged
    # ... but the lr decays after round 4 while the loss falls: the line through 3, 2, 1 falls 2.0
    # to 1.0, against 3.0 from the highest (round 1): 66.7%
    c = check_convergence(losses, [4, 8], window=3, tolerance=0.05)
    first, second = c.checks
    assert (first.end, first.rounds, first.levelled) == (4, 4, False)
    assert first.share == pytest.approx(2 / 3)
    assert (second.end, second.rounds, second.share, second.levelled) == (8, 4, pytest.approx(0.0), True)
    assert not c.converged
    assert c.describe() == ("under-trained: train loss still falling: 66.7% of its fall so far over the "
                            "last 3 rounds before the lr decay after round 4 (tolerance 5%)")


def test_too_short_stretch_cannot_be_judged() -> None:
    c = check_convergence([3.0, 2.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9], [2, 8], window=3, tolerance=0.05)
    assert c.checks[0] == StretchCheck(2, 2, None, None, None, False,
                                       "stretch of 2 rounds is shorter than the window of 3")
    assert c.checks[1].levelled and not c.converged
    assert c.describe() == ("not converged: stretch of 2 rounds is shorter than the window of 3 "
                            "(rounds 1–2, before the lr decay; tolerance 5%)")


def test_non_finite_loss_does_not_level_off() -> None:
    # NaN inside the judged window
    c = check_convergence([3.0, 2.0, 1.0, 1.0, NAN, NAN], [6], window=2, tolerance=0.05)
    assert c.checks[0] == StretchCheck(6, 6, None, None, None, False, "non-finite train loss at round 5")
    assert c.describe() == "not converged: non-finite train loss at round 5 (rounds 1–6; tolerance 5%)"
    # an inf early in the second stretch, outside its window, still counts
    c = check_convergence([4.0, 2.0, 2.0, 2.0, math.inf, 1.0, 1.0, 1.0, 1.0, 1.0], [4, 10], window=2,
                          tolerance=0.05)
    assert [x.levelled for x in c.checks] == [True, False]
    assert c.checks[1].reason == "non-finite train loss at round 5"


def test_several_models_converge_only_together() -> None:
    flat = [4.0, 2.0, 1.0, 1.0]
    falling = [4.0, 3.0, 2.0, 1.0]
    results = check_many({"local": flat, "meme": falling}, [4], window=2, tolerance=0.05)
    # meme: the last 2 rounds fall 1.0 to 1.0, against 3.0 from the highest: 33.3%
    assert results["local"].converged and results["meme"].checks[0].share == pytest.approx(1 / 3)
    assert not all_converged(results)
    assert all_converged(check_many({"local": flat, "meme": flat}, [4], window=2, tolerance=0.05))


@pytest.mark.parametrize(("losses", "ends", "window", "tolerance", "message"), [
    ([], [1], 2, 0.05, "empty"),
    ([1.0, 1.0], [1], 2, 0.05, "last round 2"),
    ([1.0, 1.0, 1.0], [2, 2, 3], 2, 0.05, "rise strictly"),
    ([1.0, 1.0], [0, 2], 2, 0.05, "rise strictly"),
    ([1.0, 1.0], [2], 1, 0.05, "window"),
    ([1.0, 1.0], [2], 2, -0.1, "tolerance"),
])
def test_bad_inputs_fail(losses: list[float], ends: list[int], window: int, tolerance: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_convergence(losses, ends, window, tolerance)


def test_nothing_to_combine_fails() -> None:
    with pytest.raises(ValueError):
        check_many({}, [1], window=2, tolerance=0.05)
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
