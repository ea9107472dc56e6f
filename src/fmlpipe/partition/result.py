"""The partition as data: per-client train and local test indices into the training set."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from fmlpipe.errors import DataError
from fmlpipe.io import write_tensors

FORMAT = "fmlpipe.partition/1"


@dataclass(frozen=True, eq=False)
class Partition:
    """Client ``i`` trains on ``train[i]`` and is scored locally on ``test[i]``.

    Each array is sorted int64 indices into the prepared training set; arrays are made
    read-only so the frozen dataclass is immutable all the way down.
    """

    train: tuple[np.ndarray, ...]
    test: tuple[np.ndarray, ...]
    num_classes: int
    scheme: str

    def __post_init__(self) -> None:
        if len(self.train) != len(self.test):
            raise ValueError(f"{len(self.train)} train splits but {len(self.test)} test splits")
        object.__setattr__(self, "train", _frozen(self.train))
        object.__setattr__(self, "test", _frozen(self.test))

    @property
    def num_clients(self) -> int:
        return len(self.train)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The flat form saved to disk: concatenated indices and ``[clients + 1]`` offsets."""
        flat: dict[str, torch.Tensor] = {}
        for name, parts in (("train", self.train), ("test", self.test)):
            indices, offsets = _flatten(parts)
            flat[f"{name}_indices"] = torch.from_numpy(indices)
            flat[f"{name}_offsets"] = torch.from_numpy(offsets)
        return flat

    def content_hash(self) -> str:
        """sha256 over the index arrays and offsets (client boundaries matter), for provenance."""
        digest = hashlib.sha256()
        for name, tensor in self.tensors().items():
            digest.update(name.encode())
            digest.update(tensor.numpy().astype("<i8", copy=False).tobytes())
        return digest.hexdigest()

    def save(self, path: str | Path) -> None:
        """Write atomically as safetensors (indices, offsets) with the scheme as metadata."""
        metadata = {
            "format": FORMAT,
            "num_classes": str(self.num_classes),
            "scheme": self.scheme,
            "num_clients": str(self.num_clients),
        }
        write_tensors(path, self.tensors(), metadata=metadata)

    @classmethod
    def load(cls, path: str | Path) -> Partition:
        """Read a partition written by :meth:`save`; a missing or unreadable file is a DataError."""
        path = Path(path)
        if not path.is_file():
            raise DataError(
                f"partition file '{path}' not found: run `fmlpipe run-stage partition` (or `dvc repro`)"
            )
        try:
            with safe_open(str(path), framework="np") as fh:
                meta = fh.metadata() or {}
                arrays = {key: fh.get_tensor(key) for key in fh.keys()}  # noqa: SIM118 (not iterable)
            if meta.get("format") != FORMAT:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
            train = _unflatten(arrays["train_indices"], arrays["train_offsets"])
            test = _unflatten(arrays["test_indices"], arrays["test_offsets"])
            return cls(train, test, int(meta["num_classes"]), meta["scheme"])
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise DataError(
                f"partition file '{path}' is unreadable ({exc}): re-run `fmlpipe run-stage partition`"
            ) from None


def _frozen(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    out = []
    for part in parts:
        arr = np.array(part, dtype=np.int64)  # a private copy, so callers cannot mutate it
        arr.setflags(write=False)
        out.append(arr)
    return tuple(out)


def _flatten(parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([p.size for p in parts])
    indices = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    return indices.astype(np.int64), offsets


def _unflatten(indices: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != indices.size:
        raise ValueError("offsets do not match the indices")
    if np.any(np.diff(offsets) < 0):
        raise ValueError("offsets are not non-decreasing")
    return tuple(indices[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True))
