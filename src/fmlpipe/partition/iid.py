"""IID: every client gets a uniformly random, class-stratified share of the training set.

Samples are shuffled, ordered by class (the shuffle survives within each class), and dealt
round-robin over a shuffled client order. Client sizes then differ by at most one, and each
client holds ``floor`` or ``ceil`` of ``n_c / num_clients`` samples of every class ``c``: the
global label mix up to one sample, even on tiny datasets where a plain shuffle would not be.
"""

from __future__ import annotations

import numpy as np

from fmlpipe.config.schema import PartitionParams
from fmlpipe.partition.common import group_by_owner


def partition_iid(
    labels: np.ndarray, num_classes: int, p: PartitionParams, rng: np.random.Generator
) -> list[np.ndarray]:
    """Sizes within one of ``N / num_clients``; class counts within one of ``n_c / num_clients``."""
    shuffled = rng.permutation(labels.size)
    dealt = shuffled[np.argsort(labels[shuffled], kind="stable")]
    owner = np.empty(labels.size, dtype=np.int64)
    # The dealing continues across class boundaries, which keeps the sizes balanced as well.
    owner[dealt] = rng.permutation(p.num_clients)[np.arange(labels.size) % p.num_clients]
    return group_by_owner(owner, p.num_clients)
