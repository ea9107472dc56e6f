"""Atomic file output: a reader (or DVC) never sees a half-written file."""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give outputs the usual permissions under the umask.
        os.chmod(tmp_path, 0o666 & ~_umask())
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_stale_temps(folder: Path) -> None:
    """Delete temp files that a killed writer left behind under ``folder``."""
    if folder.is_dir():
        for tmp in folder.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Save tensors as safetensors (no pickle), atomically; the same input gives the same bytes."""
    # Imported here, not at the top: writing text or JSON (`fmlpipe code-fingerprint`, run on
    # every `dvc repro`) should not wait seconds for torch.
    from safetensors.torch import save_file

    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=metadata)
        _sort_metadata(tmp)


def _sort_metadata(path: Path) -> None:
    """Rewrite the safetensors header of ``path`` in place with its metadata keys sorted.

    safetensors writes metadata from a Rust HashMap, in an order that changes from one call to
    the next: two runs with the same numbers would write different bytes, so DVC would see a
    changed partition and re-run every stage after it. Reordering keeps the header's length.
    """
    with open(path, "r+b") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
        metadata = header.get("__metadata__")
        if not metadata or len(metadata) < 2:
            return
        header["__metadata__"] = dict(sorted(metadata.items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:  # only if safetensors escaped some character differently from json
            raise RuntimeError(f"{path}: cannot rewrite the safetensors header in place")
        fh.seek(8)
        fh.write(text.ljust(size))  # safetensors pads its header with spaces too
