"""Quantity skew: client sizes vary (Dirichlet or lognormal shares), labels stay IID.

Each client first gets ``min_samples``; the remainder is shared by the drawn weights with
largest-remainder rounding, so sizes sum exactly to N. A shuffled index array is then cut at
those sizes, so each client's label mix is a uniform random sample of the global one.
"""

from __future__ import annotations

import numpy as np

from fmlpipe.config.schema import PartitionParams
from fmlpipe.partition.common import group_by_owner, largest_remainder


def partition_quantity(
    labels: np.ndarray, num_classes: int, p: PartitionParams, rng: np.random.Generator
) -> list[np.ndarray]:
    """Sizes ``min_samples + share_i * (N - num_clients * min_samples)``, rounded to sum to N."""
    if p.quantity_distribution == "dirichlet":
        weights = rng.dirichlet(np.full(p.num_clients, p.alpha))
    else:
        weights = rng.lognormal(mean=0.0, sigma=p.sigma, size=p.num_clients)
    remainder = labels.size - p.num_clients * p.min_samples
    sizes = p.min_samples + largest_remainder(weights, remainder)
    owner = np.empty(labels.size, dtype=np.int64)
    owner[rng.permutation(labels.size)] = np.repeat(np.arange(p.num_clients), sizes)
    return group_by_owner(owner, p.num_clients)
