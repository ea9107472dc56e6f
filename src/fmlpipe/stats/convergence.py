"""Whether a run's training levelled off.

In each stretch of rounds at one learning rate (before each lr decay, and at the end), a
least-squares line through the mean train loss of the stretch's last ``window`` rounds gives the
loss's fall across them. The stretch levelled off when that fall is within ``tolerance`` of the
loss's whole fall so far, from its highest value (up to the stretch's end) to the line's end: the
last ``window`` rounds made at most that share of the progress training has made. A stretch still
falling when the lr decays was cut short, however flat the run's end looks.

Why a share of the progress, and why a fitted line (measured on the committed runs,
``benchmarks/convergence_windows.py``):

- A model that memorizes its client's few hundred images drives its train loss towards 0 by a
  roughly constant fraction per round, for as long as it trains, while its test accuracy no
  longer moves. Measured against the loss's own level, such a run never levels off; measured
  against the progress made, it does.
- The train loss of small clients jumps ±10% or more from round to round. Comparing the means of
  two short windows mostly measures that noise (the verdict flipped with one more round); a line
  through ``window`` ≥ 10 rounds averages it out.
- The fall is measured from the highest loss, not from round 1's: FML's mutual-learning loss
  starts low (two untrained models agree, so its KL term is near 0) and rises before it falls.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STEP_FACTOR = 0.5  # a decay to half or less from one round to the next is a step
ROUNDING = 1e-9  # a fall below this share of the highest loss is rounding error, not progress


@dataclass(frozen=True)
class StretchCheck:
    end: int  # 1-based round that ends the stretch
    rounds: int  # rounds in the stretch
    fall: float | None  # the fitted line's fall across the stretch's last `window` rounds (> 0: falling)
    progress: float | None  # the highest loss up to the stretch's end minus the line's end: the fall so far
    share: float | None  # fall / progress; None if not judged
    levelled: bool
    reason: str  # e.g. "train loss still falling: 8.3% of its fall so far"


@dataclass(frozen=True)
class Convergence:
    checks: tuple[StretchCheck, ...]  # one per stretch, in round order; the last ends at the last round
    window: int
    tolerance: float

    @property
    def converged(self) -> bool:
        """Every stretch levelled off."""
        return all(c.levelled for c in self.checks)

    def describe(self) -> str:
        """One line: the first stretch that did not level off, else the last stretch."""
        failed = [c for c in self.checks if not c.levelled]
        check = failed[0] if failed else self.checks[-1]
        if not failed:
            label = "converged"
        elif check.share is not None and check.share > 0:
            label = "under-trained"
        else:
            label = "not converged"
        last = check.end == self.checks[-1].end
        tolerance = f"tolerance {round(100 * self.tolerance, 6):g}%"
        if check.share is None:  # not judged: say which rounds
            start = check.end - check.rounds + 1
            before = "" if last else ", before the lr decay"
            return f"{label}: {check.reason} (rounds {start}–{check.end}{before}; {tolerance})"
        at = f"up to round {check.end}" if last else f"before the lr decay after round {check.end}"
        return f"{label}: {check.reason} over the last {self.window} rounds {at} ({tolerance})"


def fitted_line(values: Sequence[float]) -> tuple[float, float]:
    """Least-squares line through ``values`` at x = 0, 1, ...: (value at the first x, slope)."""
    n = len(values)
    if n < 2:
        raise ValueError(f"a line needs at least 2 values, got {n}")
    x_mean = (n - 1) / 2
    y_mean = math.fsum(values) / n
    slope = math.fsum((i - x_mean) * (y - y_mean) for i, y in enumerate(values)) / math.fsum(
        (i - x_mean) ** 2 for i in range(n))
    return y_mean - slope * x_mean, slope


def _judge(stretch: Sequence[float], highest: float, end: int, window: int, tolerance: float) -> StretchCheck:
    rounds = len(stretch)
    if rounds < window:
        return StretchCheck(end, rounds, None, None, None, False,
                            f"stretch of {rounds} rounds is shorter than the window of {window}")
    if not all(math.isfinite(x) for x in stretch):
        # A NaN anywhere in the stretch means training diverged there; its tail means nothing.
        at = end - rounds + 1 + next(i for i, x in enumerate(stretch) if not math.isfinite(x))
        return StretchCheck(end, rounds, None, None, None, False, f"non-finite train loss at round {at}")
    start, slope = fitted_line(stretch[-window:])
    fall = -slope * (window - 1)
    progress = highest - (start - fall)
    if not progress > ROUNDING * abs(highest):  # the line ends at or above the highest loss, within rounding
        return StretchCheck(end, rounds, fall, progress, None, False, "train loss has not fallen from its highest")
    share = fall / progress
    levelled = abs(share) <= tolerance
    if levelled:
        reason = f"train loss {'fell' if share >= 0 else 'rose'} {abs(share):.1%} of its fall so far"
    elif share > 0:
        reason = f"train loss still falling: {share:.1%} of its fall so far"
    else:
        reason = f"train loss rising: {-share:.1%} of its fall so far"
    return StretchCheck(end, rounds, fall, progress, share, levelled, reason)


def _highest(losses: Sequence[float]) -> float:
    """The highest finite loss (a non-finite one fails its own stretch); −inf if none is finite."""
    return max((x for x in losses if math.isfinite(x)), default=-math.inf)


def check_convergence(losses: Sequence[float], stretch_ends: Sequence[int], window: int,
                      tolerance: float) -> Convergence:
    """Judge each stretch of ``losses`` (mean train loss of rounds 1..N, in order). ``stretch_ends``:
    the 1-based rounds after which the lr decays, then N. A stretch levels off iff the fitted fall
    over its last ``window`` rounds is within ``tolerance`` × the fall from the highest loss so far
    to the line's end; one shorter than ``window`` rounds, with a non-finite loss, or whose line
    ends at or above that highest loss, does not."""
    if not losses:
        raise ValueError("losses are empty: no rounds to judge")
    if window < 2:
        raise ValueError(f"window must be at least 2 rounds (a line needs two points), got {window}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number ≥ 0, got {tolerance!r}")
    ends = list(stretch_ends)
    if not ends or ends[-1] != len(losses) or any(b <= a for a, b in itertools.pairwise(ends)) or ends[0] < 1:
        raise ValueError(f"stretch_ends must rise strictly from ≥ 1 to the last round {len(losses)}, got {ends}")
    starts = [0, *ends[:-1]]
    checks = tuple(_judge(losses[s:e], _highest(losses[:e]), e, window, tolerance)
                   for s, e in zip(starts, ends, strict=True))
    return Convergence(checks, window, tolerance)


def check_many(series: Mapping[str, Sequence[float]], stretch_ends: Sequence[int], window: int,
               tolerance: float) -> dict[str, Convergence]:
    """One check per trained model of a run (e.g. FML's local and meme losses), same lr schedule."""
    if not series:
        raise ValueError("no loss series to judge")
    return {name: check_convergence(losses, stretch_ends, window, tolerance) for name, losses in series.items()}
def all_converged(results: Mapping[str, Convergence]) -> bool:
    """A run that trains several models converged iff every one of them did."""
    if not results:
        raise ValueError("no convergence results to combine")
    return all(r.converged for r in results.values())


def stretch_ends_from_lrs(lrs: Sequence[float]) -> list[int]:
    """The rounds after which the lr steps down to half or less, then the last round.

    A step must leave or enter a constant lr (equal in the round before or in the two after): a
    cosine schedule's last per-round ratios are about 4/9 and 1/4, yet no stretch ends there."""
    if not lrs:
        raise ValueError("lrs are empty: no rounds")
    if not all(math.isfinite(x) and x >= 0 for x in lrs):
        raise ValueError(f"learning rates must be finite and ≥ 0, got {list(lrs)}")

    def same(i: int, j: int) -> bool:
        return 0 <= i < len(lrs) and 0 <= j < len(lrs) and math.isclose(lrs[i], lrs[j], rel_tol=1e-9)

    ends = []
    for i in range(len(lrs) - 1):  # 0-based: the decay between round i + 1 and round i + 2
        step = lrs[i + 1] < lrs[i] and lrs[i + 1] <= STEP_FACTOR * lrs[i]
        if step and (same(i - 1, i) or same(i + 1, i + 2)):
            ends.append(i + 1)
    return [*ends, len(lrs)]
