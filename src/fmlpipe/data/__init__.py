"""The ``prepare`` stage: load a raw dataset, verify it, subset it, store it for later stages."""

from fmlpipe.data.store import PreparedDataset, load_prepared

__all__ = ["PreparedDataset", "load_prepared"]
