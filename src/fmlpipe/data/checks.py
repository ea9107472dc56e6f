"""Reading raw files and checking their digests: the one place every source does it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fmlpipe.errors import DataError


def read_bytes(path: Path, fix: str) -> bytes:
    """The file's bytes as stored; an unreadable file is a :class:`DataError` ending with ``fix``."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}): {fix}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_digest(path: Path, data: bytes, algorithm: str, expected: str, of: str, fix: str) -> None:
    """Raise :class:`DataError` unless ``algorithm(data)`` is ``expected``.

    ``of`` names what ``data`` is (``"file"``, ``"decompressed content"``) for the message;
    ``fix`` says how to get a good copy.
    """
    actual = hashlib.new(algorithm, data).hexdigest()
    if actual != expected:
        raise DataError(f"{path}: {algorithm} of the {of} is {actual}, expected {expected}: {fix}")
