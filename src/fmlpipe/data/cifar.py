"""CIFAR-10 and CIFAR-100 through torchvision, after checking each extracted file by name."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fmlpipe.data.checks import read_bytes, sha256_hex, verify_digest
from fmlpipe.data.raw import RawDataset, torchvision_download
from fmlpipe.errors import DataError

if TYPE_CHECKING:
    from torchvision import datasets


def load_cifar10(root: Path, download: bool) -> RawDataset:
    """CIFAR-10 from ``<root>/cifar-10-batches-py``, downloading it first if allowed and needed."""
    return _load("CIFAR10", "CIFAR-10", root, download)


def load_cifar100(root: Path, download: bool) -> RawDataset:
    """CIFAR-100 (fine labels) from ``<root>/cifar-100-python``, downloading it if allowed and needed."""
    return _load("CIFAR100", "CIFAR-100", root, download)


def verify_cifar_files(cls: type[datasets.CIFAR10], folder: Path, fix: str) -> dict[str, str]:
    """Check every batch and meta file against torchvision's md5; return name -> sha256.

    Done before torchvision loads them so that the error names the exact missing or bad
    file, where torchvision only says "not found or corrupted".
    """
    expected = [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]
    digests: dict[str, str] = {}
    for name, md5 in expected:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path} is missing: {fix}")
        raw = read_bytes(path, fix)
        verify_digest(path, raw, "md5", md5, "file", fix)
        digests[name] = sha256_hex(raw)
    return digests


def _load(class_name: str, title: str, root: Path, download: bool) -> RawDataset:
    # imported here: torchvision takes seconds to import, and every other dataset's stages skip it
    from torchvision import datasets

    cls = getattr(datasets, class_name)
    folder = root / cls.base_folder
    by_hand = f"extract {cls.filename} into {root}"
    fix = f"set data.download: true to fetch a fresh copy, or {by_hand}"
    try:
        digests = verify_cifar_files(cls, folder, fix)
    except DataError:
        if not download:
            raise
        # torchvision re-downloads and re-extracts whenever any file fails its md5
        torchvision_download(class_name, root, title, by_hand)
        digests = verify_cifar_files(cls, folder, fix)
    try:
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except (RuntimeError, OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise DataError(f"{folder}: torchvision could not load {title} ({reason}): {fix}") from None
    return RawDataset(
        train_x=_nchw(train.data),
        train_y=torch.tensor(train.targets, dtype=torch.int64),
        test_x=_nchw(test.data),
        test_y=torch.tensor(test.targets, dtype=torch.int64),
        class_names=tuple(train.classes),
        source=f"{folder} (torchvision {class_name})",
        files=digests,
    )


def _nchw(images: np.ndarray) -> torch.Tensor:
    """torchvision keeps CIFAR as uint8 [N, H, W, C]; the pipeline uses [N, C, H, W]."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
