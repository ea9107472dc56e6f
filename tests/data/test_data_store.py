"""The prepared dataset on disk: exact card contents, round trip, refusal of missing or stale files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fmlpipe.data.raw import RawDataset
from fmlpipe.data.store import load_prepared, save_prepared
from fmlpipe.errors import DataError
from fmlpipe.io import write_tensors
from fmlpipe.paths import Paths


def _raw() -> RawDataset:
    return RawDataset(
        train_x=torch.arange(5 * 2 * 3 * 4, dtype=torch.uint8).reshape(5, 2, 3, 4),
        train_y=torch.tensor([0, 1, 2, 1, 0]),
        test_x=torch.zeros(2, 2, 3, 4, dtype=torch.uint8),
        test_y=torch.tensor([2, 2]),
        class_names=("a", "b", "c"),
        source="tiny (test)",
        files={"f.gz": "ab" * 32},
    )


def test_save_then_load(tmp_path: Path) -> None:
    paths, raw = Paths(tmp_path), _raw()
    card = save_prepared(paths, raw, np.array([0, 3, 4]), {"dataset": "tiny", "seed": 7})
    digest = hashlib.sha256(paths.dataset_file.read_bytes()).hexdigest()
    assert card == {
        "dataset": "tiny",
        "seed": 7,
        "source": "tiny (test)",
        "input_shape": [2, 3, 4],
        "num_classes": 3,
        "class_names": ["a", "b", "c"],
        "train_count": 3,
        "test_count": 2,
        "train_class_counts": [2, 1, 0],
        "test_class_counts": [0, 0, 2],
        "raw_train_count": 5,
        "raw_files": {"f.gz": "ab" * 32},
        "dataset_sha256": digest,
        # channel c of image n holds 24n + 12c + k, k = 0..11, over all 5 raw training images:
        # mean 48 + 12c + 5.5; variance 24^2 var(n) + var(k) = 576 * 2 + 143 / 12, on the [0, 1] scale
        "pixel_mean": pytest.approx([53.5 / 255, 65.5 / 255], rel=1e-12),
        "pixel_std": pytest.approx([(1152 + 143 / 12) ** 0.5 / 255] * 2, rel=1e-12),
    }
    assert json.loads(paths.card_file.read_text()) == card
    loaded = load_prepared(paths)
    assert torch.equal(loaded.train_x, raw.train_x[[0, 3, 4]])
    assert loaded.train_y.tolist() == [0, 1, 0] and loaded.train_y.dtype == torch.int64
    assert torch.equal(loaded.test_x, raw.test_x) and loaded.test_y.tolist() == [2, 2]
    assert loaded.input_shape == (2, 3, 4) and loaded.num_classes == 3
    assert loaded.card == card
    assert sorted(p.name for p in paths.prepared_dir.iterdir()) == ["card.json", "dataset.safetensors"]


def test_missing_dataset_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        load_prepared(Paths())
    assert str(info.value) == (
        "data/prepared/dataset.safetensors not found: run `fmlpipe run-stage prepare` (or `dvc repro`)"
    )


def test_stale_dataset_refused(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    save_prepared(paths, _raw(), np.array([0, 1]), {"dataset": "tiny"})
    write_tensors(paths.dataset_file, {"train_x": torch.zeros(1, dtype=torch.uint8)})
    with pytest.raises(DataError, match="does not match .*card.json"):
        load_prepared(paths)


def test_unserialisable_card_writes_nothing(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    with pytest.raises(TypeError):
        save_prepared(paths, _raw(), np.array([0]), {"dataset": object()})
    assert not paths.prepared_dir.exists()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"train_y": torch.tensor([0, 1, 3, 1, 0])}, "train labels outside [0, 3)"),
        ({"test_y": torch.tensor([0])}, "test labels must be int64 [2]"),
        ({"train_x": torch.zeros(5, 3, 4, dtype=torch.uint8)}, "train images must be non-empty uint8"),
        ({"test_x": torch.zeros(2, 1, 3, 4, dtype=torch.uint8)}, "differ in shape"),
    ],
)
def test_raw_dataset_validates(change: dict[str, torch.Tensor], words: str) -> None:
    fields = {**_raw().__dict__, **change}
    with pytest.raises(DataError, match=words.replace("[", r"\[").replace(")", r"\)")):
        RawDataset(**fields)
