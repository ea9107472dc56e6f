"""The MNIST family (Fashion-MNIST, MNIST): four IDX files, found locally or downloaded by torchvision."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from fmlpipe.data.checks import read_bytes, sha256_hex, verify_digest
from fmlpipe.data.idx import decompress, parse_idx
from fmlpipe.data.raw import RawDataset, torchvision_download
from fmlpipe.errors import DataError

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_INSTALL = "run `sudo apt-get install dataset-fashion-mnist`"
STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# sha256 of the decompressed IDX content, not of the .gz: the Debian package recompresses the
# files, so .gz digests differ between copies whose content is identical.
FASHION_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# MNIST's content digests are not known offline: these are the md5s torchvision pins for its .gz
# downloads. They, and the class names, are copied from torchvision.datasets (a test keeps them
# equal), because importing torchvision costs seconds that reading four local files does not need.
MNIST_GZ_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(f"{d} - {name}" for d, name in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")))

# (path, stem, bytes as stored, decompressed content, fix) -> None, raising DataError on a mismatch
Check = Callable[[Path, str, bytes, bytes, str], None]


def load_fashion_mnist(root: Path, download: bool) -> RawDataset:
    """Fashion-MNIST from ``<root>/FashionMNIST/raw``, else the Debian package, else a download."""
    folder = root / "FashionMNIST" / "raw"
    fix = f"delete it and set data.download: true, or {APT_INSTALL}"
    if (files := find_idx_files(folder)) is not None:
        return _read(files, f"{folder} (torchvision layout)", fix, _check_fashion, FASHION_CLASSES)
    if (files := find_idx_files(DEBIAN_FASHION_DIR)) is not None:
        source = f"{DEBIAN_FASHION_DIR} (Debian package dataset-fashion-mnist)"
        reinstall = "run `sudo apt-get install --reinstall dataset-fashion-mnist`"
        return _read(files, source, reinstall, _check_fashion, FASHION_CLASSES)
    if download:
        by_hand = f"put {', '.join(f'{s}.gz' for s in STEMS)} in {folder}, or {APT_INSTALL}"
        torchvision_download("FashionMNIST", root, "Fashion-MNIST", by_hand)
        if (files := find_idx_files(folder)) is not None:
            source = f"{folder} (downloaded by torchvision)"
            return _read(files, source, fix, _check_fashion, FASHION_CLASSES)
    raise DataError(
        f"Fashion-MNIST not found in {folder} or {DEBIAN_FASHION_DIR}: {APT_INSTALL}, "
        "or set data.download: true where the network allows"
    )


def load_mnist(root: Path, download: bool) -> RawDataset:
    """MNIST from ``<root>/MNIST/raw``, else a download."""
    folder = root / "MNIST" / "raw"
    names = ", ".join(f"{s}(.gz)" for s in STEMS)
    fix = f"delete it and set data.download: true, or copy a good one into {folder}"
    if (files := find_idx_files(folder)) is not None:
        return _read(files, f"{folder} (torchvision layout)", fix, _check_mnist, MNIST_CLASSES)
    if download:
        torchvision_download("MNIST", root, "MNIST", f"put {names} in {folder}")
        if (files := find_idx_files(folder)) is not None:
            source = f"{folder} (downloaded by torchvision)"
            return _read(files, source, fix, _check_mnist, MNIST_CLASSES)
    raise DataError(
        f"MNIST not found in {folder} (expected {names}): put the files there, "
        "or set data.download: true where the network allows"
    )


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """Each of the four stems -> its file in ``folder`` (``.gz`` preferred); None if any is missing."""
    found: dict[str, Path] = {}
    for stem in STEMS:
        path = next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)
        if path is None:
            return None
        found[stem] = path
    return found


def _check_fashion(path: Path, stem: str, raw: bytes, content: bytes, fix: str) -> None:
    verify_digest(path, content, "sha256", FASHION_SHA256[stem], "decompressed content", fix)


def _check_mnist(path: Path, stem: str, raw: bytes, content: bytes, fix: str) -> None:
    # an extracted (non-.gz) file has no pinned digest: its IDX header and exact length are the check
    if path.suffix == ".gz":
        verify_digest(path, raw, "md5", MNIST_GZ_MD5[path.name], "file", fix)


def _read(
    files: dict[str, Path], source: str, fix: str, check: Check, classes: tuple[str, ...]
) -> RawDataset:
    """Read, verify and parse the four files into a :class:`RawDataset`."""
    arrays: dict[str, torch.Tensor] = {}
    digests: dict[str, str] = {}
    for stem, path in files.items():
        raw = read_bytes(path, fix)
        content = decompress(raw, path, fix)
        check(path, stem, raw, content, fix)
        array = parse_idx(content, path, fix)
        expected_ndim = 3 if "images" in stem else 1
        if array.ndim != expected_ndim:
            raise DataError(f"{path}: {array.ndim}-d IDX, expected {expected_ndim}-d: {fix}")
        arrays[stem] = array
        digests[path.name] = sha256_hex(raw)
    train_x, train_y, test_x, test_y = (arrays[s] for s in STEMS)
    return RawDataset(
        train_x=train_x.unsqueeze(1),
        train_y=train_y.long(),
        test_x=test_x.unsqueeze(1),
        test_y=test_y.long(),
        class_names=classes,
        source=source,
        files=digests,
    )
