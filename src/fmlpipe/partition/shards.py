"""Pathological non-IID (McMahan et al. 2017): each client holds exactly ``classes_per_client``.

Classes are dealt like cards: ``k`` consecutive slots per client from a sequence of laps, each
lap a fresh seeded permutation of the classes. Every class appears once per lap, so each is
held by ``floor`` or ``ceil`` of ``num_clients * k / C`` clients, and fresh laps vary the class
sets (one fixed permutation would give only ``C / k`` distinct sets when ``k`` divides ``C``).
Each class's shuffled samples are then split evenly among its holders. Only classes with
samples count; when ``num_clients * k < C`` some classes go to no client and stay unused.
"""

from __future__ import annotations

import numpy as np

from fmlpipe.config.schema import PartitionParams
from fmlpipe.errors import ParamsError
from fmlpipe.partition.common import even_sizes, group_by_owner


def partition_shards(
    labels: np.ndarray, num_classes: int, p: PartitionParams, rng: np.random.Generator
) -> list[np.ndarray]:
    """Exactly ``classes_per_client`` distinct classes per client, each class shared evenly."""
    counts = np.bincount(labels, minlength=num_classes)
    present = np.flatnonzero(counts)
    k = p.classes_per_client
    if k > present.size:
        raise ParamsError(
            f"partition.classes_per_client={k} exceeds the dataset's {present.size} classes "
            f"(with samples, of {num_classes}): lower partition.classes_per_client"
        )
    held = deal_classes(present, p.num_clients, k, rng)
    owner = np.full(labels.size, -1, dtype=np.int64)
    for c in present:
        # Shuffle the holders so the clients that get one sample more vary from class to class.
        holders = rng.permutation(np.flatnonzero((held == c).any(axis=1)))
        if holders.size == 0:
            continue
        if holders.size > counts[c]:
            raise ParamsError(
                f"class {c} has {counts[c]} samples but partition.num_clients={p.num_clients} "
                f"with partition.classes_per_client={k} share it among {holders.size} clients: "
                "lower partition.num_clients or partition.classes_per_client"
            )
        idx = rng.permutation(np.flatnonzero(labels == c))
        owner[idx] = np.repeat(holders, even_sizes(idx.size, holders.size))
    return group_by_owner(owner, p.num_clients)


def deal_classes(classes: np.ndarray, num_clients: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``[num_clients, k]`` classes, distinct within each row, each class dealt once per lap."""
    slots = np.empty(num_clients * k, dtype=np.int64)
    for start in range(0, slots.size, classes.size):
        lap = rng.permutation(classes)
        # k <= C, so a client straddles at most one lap boundary: it already holds the
        # `tail` classes before `start` and must not get them again at the head of this lap.
        tail = slots[start - start % k : start] if start % k else slots[:0]
        if tail.size:
            clash = np.isin(lap, tail)
            head = np.flatnonzero(~clash)[: k - tail.size]
            lap = np.concatenate((lap[head], np.delete(lap, head)))
        end = min(start + classes.size, slots.size)
        slots[start:end] = lap[: end - start]
    return slots.reshape(num_clients, k)
