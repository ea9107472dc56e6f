"""Seeded, class-stratified subsets: exact counts per class, caps, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from fmlpipe.data.subset import subset_indices

LABELS = np.repeat(np.array([0, 1, 2]), [10, 4, 1])


def _counts(labels: np.ndarray, idx: np.ndarray) -> list[int]:
    return np.bincount(labels[idx], minlength=3).tolist()


def test_fraction_rounds_per_class_and_keeps_one() -> None:
    idx = subset_indices(LABELS, 0.5, None, seed=0)
    # 10 * 0.5 = 5; 4 * 0.5 = 2; 1 * 0.5 rounds to 0, raised to 1
    assert _counts(LABELS, idx) == [5, 2, 1]
    assert idx.dtype == np.int64
    assert np.array_equal(idx, np.unique(idx))  # sorted, no repeats


def test_rounding_is_python_round() -> None:
    labels = np.repeat(np.array([0, 1]), [7, 5])
    # 7 * 0.3 = 2.1 -> 2; 5 * 0.3 = 1.5 -> 2 (half to even)
    assert _counts(labels, subset_indices(labels, 0.3, None, seed=1))[:2] == [2, 2]


def test_cap_applies_after_fraction() -> None:
    assert _counts(LABELS, subset_indices(LABELS, 1.0, 3, seed=0)) == [3, 3, 1]
    assert _counts(LABELS, subset_indices(LABELS, 0.5, 3, seed=0)) == [3, 2, 1]


def test_full_fraction_keeps_everything() -> None:
    assert np.array_equal(subset_indices(LABELS, 1.0, None, seed=7), np.arange(len(LABELS)))


def test_absent_classes_and_unordered_labels() -> None:
    labels = np.array([5, 2, 5, 5, 2, 5])
    idx = subset_indices(labels, 0.5, None, seed=0)
    assert np.bincount(labels[idx]).tolist() == [0, 0, 1, 0, 0, 2]


def test_deterministic_per_seed_and_seed_matters() -> None:
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    first = subset_indices(labels, 0.1, None, seed=3)
    assert np.array_equal(first, subset_indices(labels, 0.1, None, seed=3))
    other = subset_indices(labels, 0.1, None, seed=4)
    assert not np.array_equal(first, other)
    assert np.array_equal(np.bincount(labels[first]), np.bincount(labels[other]))


def test_empty_labels() -> None:
    assert subset_indices(np.array([], dtype=np.int64), 0.5, None, seed=0).shape == (0,)


@pytest.mark.parametrize(("fraction", "cap"), [(0.0, None), (1.5, None), (0.5, 0)])
def test_bad_settings(fraction: float, cap: int | None) -> None:
    with pytest.raises(ValueError):
        subset_indices(LABELS, fraction, cap, seed=0)
