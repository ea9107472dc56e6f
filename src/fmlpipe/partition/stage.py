"""The ``partition`` stage: prepared training labels in, ``data/partition/`` out.

Everything (partition, local split, stats, CSV, heatmap PNG) is computed in memory first, so
a bad param or bad input fails before any file is written; each file is then written atomically.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from fmlpipe.config.schema import Params, PartitionParams
from fmlpipe.data.store import load_prepared
from fmlpipe.errors import DataError
from fmlpipe.io import atomic_path, write_json, write_text
from fmlpipe.partition.registry import assign_clients
from fmlpipe.partition.result import Partition
from fmlpipe.partition.split import local_test_split
from fmlpipe.partition.stats import compute_stats, render_heatmap
from fmlpipe.paths import Paths

# Mixed into the base seed so this stage's draws are independent of other stages' draws
# from the same base seed (e.g. the data subset or client sampling).
STAGE_TAG = zlib.crc32(b"partition")


def stage_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the scheme and the local split, derived from ``seed``."""
    scheme_seq, split_seq = np.random.SeedSequence([seed, STAGE_TAG]).spawn(2)
    return np.random.default_rng(scheme_seq), np.random.default_rng(split_seq)


def build_partition(labels: np.ndarray, num_classes: int, p: PartitionParams, seed: int) -> Partition:
    """Assign samples to clients with ``p.scheme``, then hold out each client's local test split."""
    scheme_rng, split_rng = stage_rngs(seed)
    clients = assign_clients(labels, num_classes, p, scheme_rng)
    pairs = local_test_split(labels, clients, num_classes, p.local_test_fraction, split_rng)
    return Partition(
        train=tuple(train for train, _ in pairs),
        test=tuple(test for _, test in pairs),
        num_classes=num_classes,
        scheme=p.scheme,
    )


def run_partition(params: Params, paths: Paths) -> dict[str, Any]:
    """Run the stage; return the summary also written to ``stats.json``."""
    p = params.partition
    prepared = load_prepared(paths)
    labels = prepared.train_y.detach().cpu().numpy()
    if labels.dtype.kind not in "iu":
        raise DataError(f"prepared training labels are {labels.dtype}, expected integers")
    labels = labels.astype(np.int64, copy=False)
    partition = build_partition(labels, int(prepared.num_classes), p, params.base.seed)
    stats = compute_stats(labels, partition)
    summary = {
        "scheme": p.scheme,
        "params": p.model_dump(),
        "seed": params.base.seed,
        "partition_hash": partition.content_hash(),
        **stats.to_dict(),
    }
    csv = stats.csv_text()
    png = render_heatmap(stats)

    partition.save(paths.partition_file)
    write_json(paths.partition_stats, summary)
    write_text(paths.partition_csv, csv)
    with atomic_path(paths.partition_heatmap) as tmp:
        tmp.write_bytes(png)
    return summary
