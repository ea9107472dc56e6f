"""The registry of raw datasets, keyed by ``data.dataset``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fmlpipe.data.cifar import load_cifar10, load_cifar100
from fmlpipe.data.mnist import load_fashion_mnist, load_mnist
from fmlpipe.data.raw import RawDataset
from fmlpipe.errors import ParamsError

# (raw data root, whether torchvision may download) -> verified dataset
Loader = Callable[[Path, bool], RawDataset]

SOURCES: dict[str, Loader] = {
    "fashion_mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
}


def load_source(dataset: str, root: Path, download: bool) -> RawDataset:
    """Load and verify ``dataset`` from ``root`` (see each loader for where it looks)."""
    if dataset not in SOURCES:
        raise ParamsError(f"data.dataset={dataset!r}: unknown (known: {', '.join(SOURCES)})")
    return SOURCES[dataset](root, download)


__all__ = ["SOURCES", "Loader", "RawDataset", "load_source"]
