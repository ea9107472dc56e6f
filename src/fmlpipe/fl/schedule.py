"""FML's dynamic balance: alpha and beta per round (constant, step, or linear)."""

from __future__ import annotations

from fmlpipe.config.schema import FmlParams


def _toward(start: float, target: float, amount: float) -> float:
    if target >= start:
        return min(start + amount, target)
    return max(start - amount, target)


def balance_at_round(p: FmlParams, rnd: int, rounds: int) -> tuple[float, float]:
    """(alpha, beta) for 1-based round ``rnd``.

    ``step`` follows the authors' code: every ``step_every`` rounds each value moves by
    ``step_size`` toward its target and stops there (beta 0.1 -> 0.5 -> 0.9 with step 0.4 every
    10 rounds). ``linear`` goes from the start value at round 1 to the target at the last round.
    """
    if p.schedule == "constant":
        return p.alpha, p.beta
    if p.schedule == "step":
        moves = (rnd - 1) // p.step_every
        amount = moves * p.step_size
        return _toward(p.alpha, p.alpha_target, amount), _toward(p.beta, p.beta_target, amount)
    if p.schedule == "linear":
        frac = 0.0 if rounds == 1 else (rnd - 1) / (rounds - 1)
        return (
            p.alpha + (p.alpha_target - p.alpha) * frac,
            p.beta + (p.beta_target - p.beta) * frac,
        )
    raise ValueError(f"unknown schedule {p.schedule!r}")
