"""The local test split: each client holds out part of its own samples, class by class.

A client with ``n`` samples puts ``t = max(1, round(n * f))`` of them (at most ``n - 1``, and
``round`` halves up) into its local test split, ``f`` being ``partition.local_test_fraction``.
``t`` is apportioned over the client's classes by largest remainder in proportion to its class
counts, so each class's test count is within one sample of ``t * n_c / n`` and the local test
labels follow the same distribution as the client's training labels: personalized models are
scored on the distribution they were trained for. Within each class the held-out samples are a
seeded uniform random choice. The dataset's global test set is not touched here; it stays
available to measure generalization beyond a client's own distribution.
"""

from __future__ import annotations

import numpy as np

from fmlpipe.partition.common import largest_remainder


def local_test_sizes(sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Per-client test counts: ``round(n * f)`` halved up, at least 1, at most ``n - 1``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    wanted = np.floor(sizes * fraction + 0.5).astype(np.int64)
    return np.clip(np.maximum(wanted, 1), 0, np.maximum(sizes - 1, 0))


def local_test_split(
    labels: np.ndarray,
    clients: list[np.ndarray],
    num_classes: int,
    fraction: float,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per client ``(train_idx, test_idx)``: disjoint, sorted, together the client's samples."""
    sizes = np.array([c.size for c in clients], dtype=np.int64)
    if sizes.sum() == 0:
        return [(c.astype(np.int64), np.empty(0, dtype=np.int64)) for c in clients]
    index = np.concatenate(clients).astype(np.int64)
    client = np.repeat(np.arange(len(clients)), sizes)
    label = labels[index]
    counts = np.bincount(client * num_classes + label, minlength=len(clients) * num_classes)
    counts = counts.reshape(len(clients), num_classes)
    test_counts = largest_remainder(counts, local_test_sizes(sizes, fraction))

    # Order samples by (client, class, random key): the first test_counts[client, class] of each
    # group are a uniform random choice within that class, all clients drawn in one pass.
    order = np.lexsort((rng.permutation(index.size), label, client))
    group = client[order] * num_classes + label[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    is_test = np.empty(index.size, dtype=bool)
    is_test[order] = rank < test_counts.reshape(-1)[group]

    bounds = np.cumsum(sizes)[:-1]
    return [
        (np.sort(idx[~mask]), np.sort(idx[mask]))
        for idx, mask in zip(np.split(index, bounds), np.split(is_test, bounds), strict=True)
    ]
