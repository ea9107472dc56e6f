"""Whether a run's training levelled off: in each stretch of constant learning rate, the mean train
loss of the last ``window`` rounds against the ``window`` rounds before them. A stretch still
falling when the lr decays was cut short, however flat the run's end looks."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STEP_FACTOR = 0.5  # a decay to half or less from one round to the next is a step


@dataclass(frozen=True)
class StretchCheck:
    end: int  # 1-based round that ends the stretch
    rounds: int  # rounds in the stretch
    previous_mean: float | None  # mean loss of the `window` rounds before the last ones; None if not judged
    last_mean: float | None  # mean loss of the last `window` rounds of the stretch
    relative_change: float | None  # (previous − last) / |previous|: > 0 while the loss falls
    levelled: bool
    reason: str  # e.g. "train loss still falling 8.3%"


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
        elif check.relative_change is not None and check.relative_change > 0:
            label = "under-trained"
        else:
            label = "not converged"
        last = check.end == self.checks[-1].end
        tolerance = f"tolerance {round(100 * self.tolerance, 6):g}%"
        if check.relative_change is None:  # not judged: say which rounds
            start = check.end - check.rounds + 1
            before = "" if last else ", before the lr decay"
            return f"{label}: {check.reason} (rounds {start}–{check.end}{before}; {tolerance})"
        at = f"up to round {check.end}" if last else f"before the lr decay after round {check.end}"
        return f"{label}: {check.reason} over the last {self.window} rounds {at} ({tolerance})"


def _judge(stretch: Sequence[float], end: int, window: int, tolerance: float, min_delta: float) -> StretchCheck:
    rounds = len(stretch)
    if rounds < 2 * window:
        reason = f"stretch of {rounds} rounds is shorter than 2 × window = {2 * window}"
        return StretchCheck(end, rounds, None, None, None, False, reason)
    if not all(math.isfinite(x) for x in stretch):
        # A NaN anywhere in the stretch means training diverged there; its tail means nothing.
        first = end - rounds + 1 + next(i for i, x in enumerate(stretch) if not math.isfinite(x))
        return StretchCheck(end, rounds, None, None, None, False, f"non-finite train loss at round {first}")
    previous = math.fsum(stretch[-2 * window:-window]) / window
    last = math.fsum(stretch[-window:]) / window
    if previous == 0:
        if last != 0:
            return StretchCheck(end, rounds, previous, last, None, False, "train loss rose from 0")
        change = 0.0
    else:
        change = (previous - last) / abs(previous)
    # A loss approaching zero falls by a constant fraction per round forever (a model that
    # memorizes its data): an absolute change below min_delta counts as levelled off too.
    levelled = abs(change) <= tolerance or abs(previous - last) <= min_delta
    if abs(change) <= tolerance:
        reason = f"train loss changed {-change:+.1%}"
    elif levelled:  # relatively large, absolutely small: a loss near zero
        reason = f"train loss changed {-change:+.1%}, by {abs(previous - last):.2g} nats (min_delta {min_delta:g})"
    elif change > 0:
        reason = f"train loss still falling {change:.1%}"
    else:
        reason = f"train loss rising {-change:.1%}"
    return StretchCheck(end, rounds, previous, last, change, levelled, reason)


def check_convergence(losses: Sequence[float], stretch_ends: Sequence[int], window: int,
                      tolerance: float, min_delta: float = 0.0) -> Convergence:
    """Judge each stretch of ``losses`` (mean train loss of rounds 1..N, in order). ``stretch_ends``:
    the 1-based rounds after which the lr decays, then N. A stretch levels off iff
    |relative change| ≤ ``tolerance`` or |absolute change| ≤ ``min_delta``; one shorter than
    2 × ``window`` rounds, or with a non-finite loss, does not."""
    if not losses:
        raise ValueError("losses are empty: no rounds to judge")
    if window < 1:
        raise ValueError(f"window must be at least 1 round, got {window}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number ≥ 0, got {tolerance!r}")
    ends = list(stretch_ends)
    if not ends or ends[-1] != len(losses) or any(b <= a for a, b in itertools.pairwise(ends)) or ends[0] < 1:
        raise ValueError(f"stretch_ends must rise strictly from ≥ 1 to the last round {len(losses)}, got {ends}")
    starts = [0, *ends[:-1]]
    checks = tuple(_judge(losses[s:e], e, window, tolerance, min_delta) for s, e in zip(starts, ends, strict=True))
    return Convergence(checks, window, tolerance)


def check_many(series: Mapping[str, Sequence[float]], stretch_ends: Sequence[int], window: int,
               tolerance: float, min_delta: float = 0.0) -> dict[str, Convergence]:
    """One check per trained model of a run (e.g. FML's local and meme losses), same lr schedule."""
    if not series:
        raise ValueError("no loss series to judge")
    return {name: check_convergence(losses, stretch_ends, window, tolerance, min_delta)
            for name, losses in series.items()}


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
