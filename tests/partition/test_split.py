from __future__ import annotations

import numpy as np

from fmlpipe.partition.split import local_test_sizes, local_test_split


def test_local_test_sizes_round_half_up_at_least_one_at_most_n_minus_one() -> None:
    sizes = np.array([10, 3, 2, 25, 100, 1])
    # 10*.25=2.5 -> 3; 3*.25=.75 -> 1; 2*.25=.5 -> 1; 25*.25=6.25 -> 6; 100 -> 25; n=1 -> 0
    assert local_test_sizes(sizes, 0.25).tolist() == [3, 1, 1, 6, 25, 0]
    assert local_test_sizes(np.array([2, 5]), 0.9).tolist() == [1, 4]  # capped at n - 1
    assert local_test_sizes(np.array([4]), 0.01).tolist() == [1]  # at least one


def test_split_apportions_test_count_by_class_exactly() -> None:
    labels = np.array([0] * 6 + [1] * 4, dtype=np.int64)
    ((train, test),) = local_test_split(labels, [np.arange(10)], 2, 0.2, np.random.default_rng(0))
    # t = 2; quotas 1.2 (class 0) and 0.8 (class 1) -> one of each
    assert np.bincount(labels[test], minlength=2).tolist() == [1, 1]
    assert np.bincount(labels[train], minlength=2).tolist() == [5, 3]


def test_split_sizes_disjoint_and_class_proportions_within_one() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, size=300).astype(np.int64)
    clients = [np.sort(c) for c in np.array_split(rng.permutation(300), 5)]
    clients[0] = clients[0][:7]  # a small client too
    pairs = local_test_split(labels, clients, 4, 0.3, np.random.default_rng(2))
    for client, (train, test) in zip(clients, pairs, strict=True):
        n = client.size
        assert test.size == max(1, int(np.floor(n * 0.3 + 0.5)))
        assert np.intersect1d(train, test).size == 0
        assert np.array_equal(np.sort(np.concatenate([train, test])), client)
        assert np.array_equal(train, np.sort(train)) and np.array_equal(test, np.sort(test))
        held = np.bincount(labels[test], minlength=4)
        expected = np.bincount(labels[client], minlength=4) * test.size / n
        assert np.all(np.abs(held - expected) < 1)


def test_split_is_seeded() -> None:
    labels = np.tile(np.arange(3, dtype=np.int64), 20)
    clients = [np.arange(0, 30), np.arange(30, 60)]
    a, b, c = (local_test_split(labels, clients, 3, 0.5, np.random.default_rng(s)) for s in (7, 7, 8))
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))
