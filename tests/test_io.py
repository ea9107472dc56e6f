"""fmlpipe.io: safetensors output that is byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import safe_open

from fmlpipe.io import write_tensors


def test_same_tensors_and_metadata_give_the_same_bytes(tmp_path: Path) -> None:
    # safetensors itself orders metadata keys differently from call to call (a Rust HashMap);
    # eight writes would almost surely show two orders without the sorting.
    tensors = {"train_indices": torch.arange(7), "offsets": torch.tensor([0, 3, 7]), "w": torch.ones(2, 3)}
    metadata = {"format": "fmlpipe.partition/1", "num_classes": "10", "scheme": "dirichlet", "num_clients": "2",
                "note": "héllo \"quoted\""}
    digests = set()
    for i in range(8):
        path = tmp_path / f"p{i}.safetensors"
        write_tensors(path, tensors, metadata)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1
    size = int.from_bytes(path.read_bytes()[:8], "little")
    assert list(json.loads(path.read_bytes()[8 : 8 + size])["__metadata__"]) == sorted(metadata)
    with safe_open(str(path), "pt") as fh:
        assert fh.metadata() == metadata
        # safe_open has keys() but is not iterable
        assert {k: fh.get_tensor(k).tolist() for k in fh.keys()} == {  # noqa: SIM118
            k: t.tolist() for k, t in tensors.items()
        }
