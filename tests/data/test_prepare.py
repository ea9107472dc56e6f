"""The prepare stage on the real Fashion-MNIST (Debian package), small, end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from fmlpipe.config import Params
from fmlpipe.data import load_prepared
from fmlpipe.data.mnist import DEBIAN_FASHION_DIR
from fmlpipe.data.prepare import run_prepare
from fmlpipe.data.sources import load_source
from fmlpipe.data.subset import subset_indices
from fmlpipe.errors import DataError
from fmlpipe.paths import Paths
from tests.conftest import needs_fashion, with_section


@needs_fashion
def test_real_fashion_mnist(tmp_path: Path) -> None:
    raw = load_source("fashion_mnist", tmp_path / "raw", download=False)
    assert raw.source.startswith(str(DEBIAN_FASHION_DIR))
    assert raw.train_x.shape == (60000, 1, 28, 28) and raw.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(raw.train_y).tolist() == [6000] * 10
    assert torch.bincount(raw.test_y).tolist() == [1000] * 10
    assert sorted(raw.files) == sorted(p.name for p in DEBIAN_FASHION_DIR.glob("*-ubyte.gz"))


@needs_fashion
@pytest.mark.e2e
def test_run_prepare_end_to_end(tmp_path: Path, params: Params) -> None:
    params = with_section(params, "data", dataset="fashion_mnist", train_fraction=0.05, per_class_cap=None)
    paths = Paths(tmp_path)  # data.root (data/raw) is absent there: the Debian copy is used
    card = run_prepare(params, paths)
    assert card["dataset"] == "fashion_mnist" and card["seed"] == params.base.seed
    assert card["subset"] == {"train_fraction": 0.05, "per_class_cap": None}
    assert card["input_shape"] == [1, 28, 28] and card["num_classes"] == 10
    assert card["train_count"] == 3000 and card["train_class_counts"] == [300] * 10
    assert card["test_count"] == 10000 and card["test_class_counts"] == [1000] * 10
    assert card["raw_train_count"] == 60000 and len(card["raw_files"]) == 4
    digest = hashlib.sha256(paths.dataset_file.read_bytes()).hexdigest()
    assert card["dataset_sha256"] == digest
    assert json.loads(paths.card_file.read_text()) == card

    prepared = load_prepared(paths)
    raw = load_source("fashion_mnist", tmp_path / "data" / "raw", download=False)
    idx = torch.from_numpy(subset_indices(raw.train_y.numpy(), 0.05, None, params.base.seed))
    assert torch.equal(prepared.train_x, raw.train_x[idx])
    assert torch.equal(prepared.train_y, raw.train_y[idx])
    assert torch.equal(prepared.test_x, raw.test_x) and torch.equal(prepared.test_y, raw.test_y)
    assert prepared.input_shape == (1, 28, 28) and prepared.num_classes == 10

    assert run_prepare(params, paths)["dataset_sha256"] == digest  # same seed, same bytes


def test_failure_leaves_no_outputs(tmp_path: Path, params: Params) -> None:
    with pytest.raises(DataError, match="MNIST not found"):
        run_prepare(with_section(params, "data", dataset="mnist", download=False), Paths(tmp_path))
    assert not (tmp_path / "data" / "prepared").exists()
