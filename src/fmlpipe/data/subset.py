"""A seeded, class-stratified subset of the training set."""

from __future__ import annotations

import numpy as np


def subset_indices(
    labels: np.ndarray, train_fraction: float, per_class_cap: int | None, seed: int
) -> np.ndarray:
    """Sorted int64 indices of a class-stratified subset of ``labels``.

    Each class keeps ``round(n_c * train_fraction)`` samples, then at most ``per_class_cap``.
    A class that is present keeps at least one sample. ``round`` is Python's (half to even).
    The draw depends only on ``labels`` and ``seed``: classes are visited in ascending order
    with one ``numpy.random.default_rng(seed)``.
    """
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-d, got shape {labels.shape}")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction={train_fraction}: must be in (0, 1]")
    if per_class_cap is not None and per_class_cap < 1:
        raise ValueError(f"per_class_cap={per_class_cap}: must be None or >= 1")
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        keep = max(1, round(len(members) * train_fraction))
        if per_class_cap is not None:
            keep = min(keep, per_class_cap)
        kept.append(rng.choice(members, size=keep, replace=False))
    if not kept:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.concatenate(kept)).astype(np.int64)
