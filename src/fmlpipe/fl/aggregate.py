"""Server-side averaging of model states: a pure function over state dicts."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from fmlpipe.fl.protocol import State


def average_states(states: Sequence[State], weights: Sequence[float]) -> State:
    """Weighted mean of floating-point entries; integer buffers (BatchNorm's
    ``num_batches_tracked``) are not averageable and are taken from the first state.

    ``weights`` need not be normalized; they must be non-negative with a positive sum.
    """
    if not states or len(states) != len(weights):
        raise ValueError("need one weight per state and at least one state")
    total = float(sum(weights))
    if total <= 0 or min(weights) < 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
    out: State = {}
    for name, first in states[0].items():
        if not first.is_floating_point():
            out[name] = first.clone()
            continue
        acc = torch.zeros_like(first, dtype=torch.float64)
        for state, weight in zip(states, weights):
            acc += state[name].to(torch.float64) * (weight / total)
        out[name] = acc.to(first.dtype)
    return out


def aggregation_weights(num_samples: Sequence[int], mode: str) -> list[float]:
    """Per-client weights: ``weighted`` by training samples (FedAvg) or ``uniform``."""
    if mode == "weighted":
        return [float(n) for n in num_samples]
    if mode == "uniform":
        return [1.0] * len(num_samples)
    raise ValueError(f"unknown aggregation mode {mode!r}")
