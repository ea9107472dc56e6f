"""The ``prepare`` stage: raw dataset -> verified, subsetted ``data/prepared/``."""

from __future__ import annotations

from typing import Any

from fmlpipe.config import Params
from fmlpipe.data.sources import load_source
from fmlpipe.data.store import save_prepared
from fmlpipe.data.subset import subset_indices
from fmlpipe.paths import Paths


def run_prepare(params: Params, paths: Paths) -> dict[str, Any]:
    """Load and verify ``data.dataset``, draw the seeded subset, write dataset and card; return the card.

    ``data.root`` is relative to the pipeline root (``paths.pipeline_root``) unless absolute. Every
    check runs before the first write, and each write is atomic, so a failure leaves the
    previous outputs as they were.
    """
    data = params.data
    raw = load_source(data.dataset, paths.pipeline_root / data.root, data.download)
    seed = params.base.seed
    train_idx = subset_indices(raw.train_y.numpy(), data.train_fraction, data.per_class_cap, seed)
    settings = {
        "dataset": data.dataset,
        "seed": seed,
        "subset": {"train_fraction": data.train_fraction, "per_class_cap": data.per_class_cap},
    }
    return save_prepared(paths, raw, train_idx, settings)
