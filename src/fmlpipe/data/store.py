"""Write and read the prepared dataset: ``dataset.safetensors`` and its ``card.json``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from fmlpipe.data.raw import RawDataset
from fmlpipe.errors import DataError
from fmlpipe.io import write_json, write_tensors
from fmlpipe.paths import Paths

TENSORS = ("train_x", "train_y", "test_x", "test_y")
RERUN = "run `fmlpipe run-stage prepare` (or `dvc repro`)"


@dataclass(frozen=True)
class PreparedDataset:
    """The prepared dataset: uint8 images ``[N, C, H, W]``, int64 labels ``[N]``, and its card."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    card: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = (int(d) for d in self.train_x.shape[1:])
        return (c, h, w)

    @property
    def num_classes(self) -> int:
        return len(self.card["class_names"])


def save_prepared(
    paths: Paths, raw: RawDataset, train_idx: torch.Tensor | np.ndarray, card: dict[str, Any]
) -> dict[str, Any]:
    """Write ``raw``'s training images at ``train_idx`` and its whole test set, then the card.

    ``card`` holds the caller's settings (dataset name, subset settings, seed); everything
    derived from the data (shapes, counts, digests) is added here, so the card always
    describes the file beside it. Returns the card as written.
    """
    idx = torch.as_tensor(train_idx, dtype=torch.int64)
    tensors = {
        "train_x": raw.train_x[idx],
        "train_y": raw.train_y[idx],
        "test_x": raw.test_x,
        "test_y": raw.test_y,
    }
    num_classes = len(raw.class_names)
    full: dict[str, Any] = {
        **card,
        "source": raw.source,
        "input_shape": [int(d) for d in raw.train_x.shape[1:]],
        "num_classes": num_classes,
        "class_names": list(raw.class_names),
        "train_count": len(idx),
        "test_count": len(raw.test_y),
        "train_class_counts": _class_counts(tensors["train_y"], num_classes),
        "test_class_counts": _class_counts(raw.test_y, num_classes),
        "raw_train_count": len(raw.train_y),
        "raw_files": dict(raw.files),
        **pixel_statistics(raw.train_x),
    }
    json.dumps(full)  # a card that cannot be written must fail before the dataset is replaced
    write_tensors(paths.dataset_file, tensors)
    full["dataset_sha256"] = _file_sha256(paths.dataset_file)
    write_json(paths.card_file, full)
    return full


def load_prepared(paths: Paths) -> PreparedDataset:
    """Read what :func:`save_prepared` wrote, checking the dataset file against its card."""
    for path in (paths.dataset_file, paths.card_file):
        if not path.is_file():
            raise DataError(f"{path} not found: {RERUN}")
    try:
        card = json.loads(paths.card_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{paths.card_file}: not valid JSON ({exc}): {RERUN}") from None
    digest = _file_sha256(paths.dataset_file)
    if not isinstance(card, dict) or card.get("dataset_sha256") != digest:
        raise DataError(
            f"{paths.dataset_file} does not match {paths.card_file} (its sha256 is {digest}): {RERUN}"
        )
    try:
        tensors = load_file(str(paths.dataset_file))
    except SafetensorError as exc:
        raise DataError(f"{paths.dataset_file}: not a safetensors file ({exc}): {RERUN}") from None
    missing = [name for name in TENSORS if name not in tensors]
    if missing:
        raise DataError(f"{paths.dataset_file}: lacks tensors {', '.join(missing)}: {RERUN}")
    return PreparedDataset(**{name: tensors[name] for name in TENSORS}, card=card)


def pixel_statistics(images: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel mean and standard deviation of uint8 ``images`` [N, C, H, W] on the [0, 1]
    scale: what ``data.normalize`` subtracts and divides by. Summed in exact integers, so the
    figures do not depend on summation order or thread count."""
    values = images.transpose(0, 1).reshape(images.shape[1], -1).to(torch.int64)
    n = values.shape[1]
    sums, squares = values.sum(dim=1).tolist(), (values * values).sum(dim=1).tolist()
    mean = [s / n / 255 for s in sums]
    std = [((q / n) / 255**2 - m * m) ** 0.5 for q, m in zip(squares, mean)]
    return {"pixel_mean": mean, "pixel_std": std}


def _class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    return [int(c) for c in torch.bincount(labels, minlength=num_classes)]


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
