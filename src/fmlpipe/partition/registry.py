"""The partition schemes by name (the values ``partition.scheme`` allows) and their common entry."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fmlpipe.config.schema import PartitionParams
from fmlpipe.partition.checks import check_inputs, check_min_samples
from fmlpipe.partition.dirichlet import partition_dirichlet
from fmlpipe.partition.iid import partition_iid
from fmlpipe.partition.quantity import partition_quantity
from fmlpipe.partition.shards import partition_shards

Scheme = Callable[[np.ndarray, int, PartitionParams, np.random.Generator], list[np.ndarray]]
"""``(labels [N] int64, num_classes, params, rng) -> per-client sorted, disjoint sample indices``."""

SCHEMES: dict[str, Scheme] = {
    "iid": partition_iid,
    "dirichlet": partition_dirichlet,
    "shards": partition_shards,
    "quantity": partition_quantity,
}


def assign_clients(
    labels: np.ndarray, num_classes: int, p: PartitionParams, rng: np.random.Generator
) -> list[np.ndarray]:
    """Run ``p.scheme`` between the shared checks: feasibility before, ``min_samples`` after."""
    check_inputs(labels, num_classes, p)
    clients = SCHEMES[p.scheme](labels, num_classes, p, rng)
    check_min_samples(clients, p)
    return clients
