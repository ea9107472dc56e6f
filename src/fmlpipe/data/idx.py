"""Read IDX files (the MNIST family's format), gzipped or not, checking every byte is accounted for."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from fmlpipe.data.checks import read_bytes
from fmlpipe.errors import DataError

GOOD_COPY = "replace it with a good copy (re-download it, or reinstall the package it came from)"
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path, fix: str = GOOD_COPY) -> torch.Tensor:
    """Return the uint8 tensor stored in the IDX file at ``path``, shaped as its header says.

    Any problem (missing, corrupt gzip, bad magic, wrong length) is a one-line
    :class:`DataError` naming the file and ending with ``fix``.
    """
    path = Path(path)
    return parse_idx(decompress(read_bytes(path, fix), path, fix), path, fix)


def decompress(raw: bytes, path: Path, fix: str = GOOD_COPY) -> bytes:
    """Gunzip ``raw`` when it starts with the gzip magic (whatever the file is called), else return it."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: corrupt or truncated gzip ({reason}): {fix}") from None


def parse_idx(content: bytes, path: Path, fix: str = GOOD_COPY) -> torch.Tensor:
    """Parse decompressed IDX bytes: magic ``0x0000080N`` (uint8, N dims), N big-endian sizes, data."""
    if len(content) < 4 or content[:3] != b"\x00\x00\x08" or content[3] == 0:
        magic = content[:4].hex() or "none"
        raise DataError(
            f"{path}: not an unsigned-byte IDX file (magic {magic}, expected 0000080N): {fix}"
        )
    ndim = content[3]
    header = 4 + 4 * ndim
    if len(content) < header:
        raise DataError(f"{path}: truncated IDX header ({len(content)} of {header} bytes): {fix}")
    dims = struct.unpack(f">{ndim}I", content[4:header])
    expected = header + math.prod(dims)
    if len(content) != expected:
        raise DataError(
            f"{path}: {len(content)} bytes, expected {expected} for shape {tuple(dims)}: {fix}"
        )
    # copy: the buffer is read-only and torch tensors must own writable memory
    data = np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims).copy()
    return torch.from_numpy(data)
