"""The checks every scheme shares: feasibility before drawing, ``min_samples`` after."""

from __future__ import annotations

import numpy as np

from fmlpipe.config.schema import PartitionParams
from fmlpipe.errors import DataError, ParamsError


def check_inputs(labels: np.ndarray, num_classes: int, p: PartitionParams) -> None:
    """Refuse labels a scheme cannot use and params no scheme could satisfy."""
    if labels.ndim != 1 or labels.dtype != np.int64:
        raise DataError(f"training labels must be a 1-D int64 array, got {labels.dtype} {labels.shape}")
    if num_classes < 1:
        raise DataError(f"the dataset declares {num_classes} classes; at least 1 is needed")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"training labels span [{labels.min()}, {labels.max()}], outside the dataset's "
            f"{num_classes} classes [0, {num_classes - 1}]"
        )
    n = labels.size
    if p.num_clients * p.min_samples > n:
        raise ParamsError(
            f"partition.num_clients={p.num_clients} x partition.min_samples={p.min_samples} = "
            f"{p.num_clients * p.min_samples} exceeds the {n} training samples (N): lower "
            "partition.num_clients or partition.min_samples, or use more data"
        )


def check_min_samples(clients: list[np.ndarray], p: PartitionParams) -> None:
    """Every client must end up with at least ``min_samples`` (train + local test)."""
    sizes = np.array([c.size for c in clients], dtype=np.int64)
    if sizes.size and sizes.min() < p.min_samples:
        worst = int(sizes.argmin())
        raise ParamsError(
            f"scheme '{p.scheme}' gave client {worst} only {sizes[worst]} samples < "
            f"partition.min_samples={p.min_samples}: lower partition.min_samples or "
            "partition.num_clients"
            + (", or raise partition.classes_per_client" if p.scheme == "shards" else "")
        )
