from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fmlpipe.errors import DataError
from fmlpipe.partition.result import Partition


def _partition(train: list[list[int]] | None = None) -> Partition:
    train = train if train is not None else [[0, 2, 5], [1, 4]]
    test = [[3], [6, 7]]
    return Partition(tuple(np.array(t) for t in train), tuple(np.array(t) for t in test), 3, "iid")


def test_save_load_round_trip(tmp_path: Path) -> None:
    original = _partition()
    original.save(tmp_path / "p.safetensors")
    loaded = Partition.load(tmp_path / "p.safetensors")
    assert (loaded.num_classes, loaded.scheme, loaded.num_clients) == (3, "iid", 2)
    assert [t.tolist() for t in loaded.train] == [[0, 2, 5], [1, 4]]
    assert [t.tolist() for t in loaded.test] == [[3], [6, 7]]
    assert all(t.dtype == np.int64 for t in loaded.train + loaded.test)
    assert loaded.content_hash() == original.content_hash()


def test_hash_is_stable_and_sees_client_boundaries() -> None:
    assert _partition().content_hash() == _partition().content_hash()
    assert len(_partition().content_hash()) == 64
    # the same concatenated indices cut at another client boundary is another partition
    assert _partition([[0, 2], [5, 1, 4]]).content_hash() != _partition().content_hash()


def test_arrays_are_read_only_copies() -> None:
    source = np.array([0, 1])
    part = Partition((source,), (np.array([2]),), 2, "iid")
    source[0] = 9
    assert part.train[0].tolist() == [0, 1]
    with pytest.raises(ValueError):
        part.train[0][0] = 5


def test_missing_file_says_how_to_make_it(tmp_path: Path) -> None:
    hint = r"not found: run `fmlpipe run-stage partition` \(or `dvc repro`\)"
    with pytest.raises(DataError, match=hint):
        Partition.load(tmp_path / "absent.safetensors")


def test_corrupt_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "p.safetensors"
    path.write_bytes(b"not safetensors")
    with pytest.raises(DataError, match="unreadable"):
        Partition.load(path)
