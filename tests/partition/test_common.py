from __future__ import annotations

import numpy as np
import pytest

from fmlpipe.partition.common import even_sizes, group_by_owner, largest_remainder


def test_largest_remainder_exact() -> None:
    # quotas 3.5, 2.1, 1.4 -> floors 3, 2, 1; the one left over goes to the largest fraction (.5)
    assert largest_remainder(np.array([0.5, 0.3, 0.2]), 7).tolist() == [4, 2, 1]
    # equal fractions: ties go to the lower index
    assert largest_remainder(np.ones(3), 10).tolist() == [4, 3, 3]
    assert largest_remainder(np.array([0.0, 1.0]), 5).tolist() == [0, 5]


def test_largest_remainder_rows() -> None:
    weights = np.array([[6, 4], [1, 1], [0, 0]])
    # row 0: quotas 1.2, 0.8 -> [1, 1]; row 1: 1.5, 1.5 -> [2, 1]; row 2: total 0
    assert largest_remainder(weights, np.array([2, 3, 0])).tolist() == [[1, 1], [2, 1], [0, 0]]


def test_largest_remainder_refuses_zero_weights_with_positive_total() -> None:
    with pytest.raises(ValueError, match="all-zero"):
        largest_remainder(np.zeros(2), 1)


def test_group_by_owner_sorts_and_skips_unused() -> None:
    owner = np.array([1, 0, -1, 1, 0, 2])
    groups = group_by_owner(owner, 4)
    assert [g.tolist() for g in groups] == [[1, 4], [0, 3], [5], []]
    assert all(g.dtype == np.int64 for g in groups)


def test_even_sizes() -> None:
    assert even_sizes(10, 4).tolist() == [3, 3, 2, 2]
    assert even_sizes(3, 3).tolist() == [1, 1, 1]
