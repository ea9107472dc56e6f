"""Label skew by Dirichlet proportions, as in NIID-Bench (Li et al. 2021; Hsu et al. 2019).

For each class, client shares are drawn from ``Dir(alpha * 1)``: small ``alpha`` gives each
class to few clients, large ``alpha`` approaches IID. A client already holding ``N /
num_clients`` samples gets no share of later classes, which keeps sizes from running away. The
whole draw repeats (same generator, so still seeded) until every client has ``min_samples``.
"""

from __future__ import annotations

import numpy as np

from fmlpipe.config.schema import PartitionParams
from fmlpipe.errors import ParamsError
from fmlpipe.partition.common import group_by_owner

MAX_DRAWS = 1000


def partition_dirichlet(
    labels: np.ndarray, num_classes: int, p: PartitionParams, rng: np.random.Generator
) -> list[np.ndarray]:
    """Redraw up to ``MAX_DRAWS`` times until every client holds ``min_samples``."""
    smallest = 0
    for _ in range(MAX_DRAWS):
        owner, sizes = _draw(labels, num_classes, p.num_clients, p.alpha, rng)
        smallest = int(sizes.min())
        if smallest >= p.min_samples:
            return group_by_owner(owner, p.num_clients)
    raise ParamsError(
        f"partition.min_samples={p.min_samples} not reached by every client in {MAX_DRAWS} "
        f"Dirichlet draws with partition.alpha={p.alpha} and partition.num_clients="
        f"{p.num_clients} (smallest client in the last draw: {smallest} of {labels.size} "
        "samples): raise partition.alpha, or lower partition.min_samples or partition.num_clients"
    )


def _draw(
    labels: np.ndarray, num_classes: int, num_clients: int, alpha: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One NIID-Bench draw: the owner of every sample and the resulting client sizes."""
    owner = np.empty(labels.size, dtype=np.int64)
    sizes = np.zeros(num_clients, dtype=np.int64)
    full = labels.size / num_clients
    for k in range(num_classes):
        idx = rng.permutation(np.flatnonzero(labels == k))
        shares = rng.dirichlet(np.full(num_clients, alpha))
        shares[sizes >= full] = 0.0
        total = shares.sum()
        if total > 0:
            shares /= total
        else:
            # Tiny alpha can put all mass on full clients (the rest underflow to 0); NIID-Bench
            # would divide 0 by 0 here. Share evenly among the clients still below the cap.
            shares = (sizes < full) / np.count_nonzero(sizes < full)
        cuts = (np.cumsum(shares) * idx.size).astype(np.int64)[:-1]
        counts = np.diff(np.concatenate(([0], np.minimum(cuts, idx.size), [idx.size])))
        owner[idx] = np.repeat(np.arange(num_clients), counts)
        sizes += counts
    return owner, sizes
