"""Integer helpers every scheme and the local split share: apportioning and grouping."""

from __future__ import annotations

import numpy as np


def largest_remainder(weights: np.ndarray, totals: np.ndarray | int) -> np.ndarray:
    """Split integer ``totals`` proportionally to ``weights`` along the last axis (Hamilton's method).

    ``weights`` has shape ``[k]`` or ``[rows, k]`` (non-negative, each row with a positive sum
    unless its total is 0); ``totals`` is one int or one per row. Each result row sums exactly to
    its total and every entry is within 1 of its exact quota. Ties go to the lower index, so
    the result is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    rows = np.atleast_2d(w)
    tot = np.broadcast_to(np.asarray(totals, dtype=np.int64), rows.shape[:1])
    if np.any(rows < 0) or not np.all(np.isfinite(rows)):
        raise ValueError("largest_remainder: weights must be finite and non-negative")
    sums = rows.sum(axis=1, keepdims=True)
    if np.any((sums[:, 0] <= 0) & (tot > 0)):
        raise ValueError("largest_remainder: a row with a positive total has all-zero weights")
    quotas = np.divide(rows * tot[:, None], sums, out=np.zeros_like(rows), where=sums > 0)
    base: np.ndarray = np.floor(quotas).astype(np.int64)
    short = tot - base.sum(axis=1)
    # Rank each entry by its fractional part (largest first) and top up the `short` best.
    order = np.argsort(-(quotas - base), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(rows.shape[1]), order.shape), axis=1)
    base += rank < short[:, None]
    return base.reshape(w.shape)


def group_by_owner(owner: np.ndarray, num_clients: int) -> list[np.ndarray]:
    """Per-client sorted sample indices from ``owner[i]`` = client of sample ``i`` (-1: unused)."""
    owner = np.asarray(owner, dtype=np.int64)
    used = np.flatnonzero(owner >= 0)
    # A stable sort by owner keeps each client's (ascending) sample indices in order.
    order = used[np.argsort(owner[used], kind="stable")]
    sizes = np.bincount(owner[used], minlength=num_clients)
    return [part.astype(np.int64) for part in np.split(order, np.cumsum(sizes)[:-1])]


def even_sizes(total: int, parts: int) -> np.ndarray:
    """``parts`` sizes summing to ``total`` that differ by at most one (the first ones larger)."""
    return total // parts + (np.arange(parts) < total % parts).astype(np.int64)
