"""IDX parsing: exact round trips and one-line errors that name the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from fmlpipe.data.checks import verify_digest
from fmlpipe.data.idx import read_idx
from fmlpipe.errors import DataError
from tests.data.datakit import idx_bytes, write_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (0, 28, 28)])
def test_round_trip(tmp_path: Path, gz: bool, shape: tuple[int, ...]) -> None:
    array = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    write_idx(tmp_path / "x-idx", array, gz)
    tensor = read_idx(tmp_path / ("x-idx.gz" if gz else "x-idx"))
    assert tensor.dtype == torch.uint8
    assert tuple(tensor.shape) == shape
    assert torch.equal(tensor, torch.from_numpy(array))


def _error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "good copy" in message
    return message


def test_truncated_gzip(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    assert "corrupt or truncated gzip" in _error(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8))))
    packed[len(packed) // 2] ^= 0xFF
    path = tmp_path / "labels.gz"
    path.write_bytes(bytes(packed))
    assert "corrupt or truncated gzip" in _error(path)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_length(tmp_path: Path, delta: int) -> None:
    content = idx_bytes(np.zeros((2, 3, 4), dtype=np.uint8))
    path = tmp_path / "images"
    path.write_bytes(content + b"\0" if delta > 0 else content[:-1])
    assert f"{len(content) + delta} bytes, expected {len(content)} for shape (2, 3, 4)" in _error(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "images"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))
    assert "truncated IDX header (8 of 16 bytes)" in _error(path)


@pytest.mark.parametrize("magic", [b"\x00\x00\x0d\x01", b"\x00\x00\x08\x00", b"PK\x03\x04", b""])
def test_wrong_magic(tmp_path: Path, magic: bytes) -> None:
    path = tmp_path / "images"
    path.write_bytes(magic + b"\0\0\0\0")
    assert "not an unsigned-byte IDX file" in _error(path)


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot be read" in _error(tmp_path / "absent.gz")


def test_verify_digest_mismatch_names_file_expected_and_actual(tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    verify_digest(path, b"abc", "md5", "900150983cd24fb0d6963f7d28e17f72", "file", "fix it")
    with pytest.raises(DataError) as info:
        verify_digest(path, b"abd", "md5", "900150983cd24fb0d6963f7d28e17f72", "file", "fix it")
    assert str(info.value) == (
        f"{path}: md5 of the file is 4911e516e5aa21d327512e0c8b197616, "
        "expected 900150983cd24fb0d6963f7d28e17f72: fix it"
    )
