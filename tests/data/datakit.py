"""Helpers for the data tests: tiny IDX and CIFAR files in their real layouts."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000080N, N big-endian sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> bytes:
    """Write ``array`` as an IDX file (gzipped if ``gz``, with ``.gz`` appended); return the content."""
    content = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        Path(f"{path}.gz").write_bytes(gzip.compress(content, mtime=0))
    else:
        path.write_bytes(content)
    return content


def tiny_mnist_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Four small IDX arrays in MNIST's layout: 6 train and 4 test 5x4 images, labels in 0..9."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 5, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.array([0, 1, 2, 9, 1, 0], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (4, 5, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([3, 3, 9, 0], dtype=np.uint8),
    }


def write_mnist_layout(folder: Path, gz: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four tiny MNIST-style files into ``folder``; return the arrays by stem."""
    arrays = tiny_mnist_arrays(seed)
    for stem, array in arrays.items():
        write_idx(folder / stem, array, gz)
    return arrays


def write_cifar10_layout(root: Path, per_batch: int = 2) -> dict[str, np.ndarray]:
    """A tiny CIFAR-10 in torchvision's pickled layout under ``root/cifar-10-batches-py``.

    Returns the rows (uint8 ``[n, 3072]``, CIFAR's channel-major order) and labels of the
    training and test sets.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    rows, labels = {}, {}
    for i, name in enumerate(names):
        rows[name] = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels[name] = [(i + j) % 10 for j in range(per_batch)]
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": rows[name], "labels": labels[name]}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"class{c}" for c in range(10)]}, fh)
    return {
        "train_rows": np.concatenate([rows[n] for n in names[:5]]),
        "train_labels": np.array(sum((labels[n] for n in names[:5]), []), dtype=np.int64),
        "test_rows": rows["test_batch"],
        "test_labels": np.array(labels["test_batch"], dtype=np.int64),
    }
