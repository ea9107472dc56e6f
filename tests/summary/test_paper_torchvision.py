"""The paper pipeline's MNIST and CIFAR-10 variants on small files in torchvision's layouts
(pinned digests monkeypatched), run stage by stage through the CLI; and the clear stop when
the data is missing offline."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from torchvision import datasets
from typer.testing import CliRunner

from fmlpipe.cli import app
from fmlpipe.data import mnist
from tests.conftest import REPO
from tests.data.datakit import write_idx

runner = CliRunner()
TRAIN, TEST = 120, 40  # 5 clients x 2 label shards of 12 samples each


def _labels(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint8) % 10


def _write_mnist(root: Path) -> None:
    rng = np.random.default_rng(0)
    folder = root / "MNIST" / "raw"
    for split, n in (("train", TRAIN), ("t10k", TEST)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=False)
        write_idx(folder / f"{split}-labels-idx1-ubyte", _labels(n), gz=False)


def _write_cifar10(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = TEST if name == "test_batch" else TRAIN // 5
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": _labels(n).tolist()}, fh)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"class{c}" for c in range(10)]}, fh)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, md5[n]] for n in names[:5]])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(datasets.CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                                   "md5": md5["batches.meta"]})


def _pipeline(tmp_path: Path, raw_root: Path) -> Path:
    params: dict[str, Any] = yaml.safe_load((REPO / "pipelines/paper/params.yaml").read_text())
    params["data"].update(root=str(raw_root), download=False)
    params["federation"].update(rounds=1, local_epochs=1, batch_size=16)
    params["tracking"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path / "params.yaml"


def _stage(params: Path, *args: str) -> None:
    result = runner.invoke(app, ["run-stage", *args, "--params", str(params)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("variant", "shape"), [("mnist_noniid", [1, 28, 28]), ("cifar10_iid", [3, 32, 32])])
def test_torchvision_variants_run_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str,
                                             shape: list[int]) -> None:
    raw = tmp_path / "raw"
    _write_mnist(raw)
    monkeypatch.setattr(mnist, "MNIST_GZ_MD5", {})
    _write_cifar10(raw, monkeypatch)
    params = _pipeline(tmp_path / "paper", raw) if (tmp_path / "paper").mkdir() is None else None
    assert params is not None
    for stage in ("prepare", "partition"):
        _stage(params, stage, "--variant", variant)
    for algorithm in ("fml", "fedavg"):
        _stage(params, "train", "--variant", variant, "--algorithm", algorithm)
    out = tmp_path / "paper" / variant
    card = json.loads((out / "data/prepared/card.json").read_text())
    assert card["dataset"] == variant.split("_")[0] and card["input_shape"] == shape
    assert card["train_count"] == TRAIN and card["test_count"] == TEST
    stats = json.loads((out / "data/partition/stats.json").read_text())
    classes = [sum(1 for c in counts if c) for counts in stats["train_counts"]]
    assert len(classes) == 5 and (classes == [2] * 5 if variant.endswith("noniid") else min(classes) > 2)
    for algorithm in ("fml", "fedavg"):
        metrics = json.loads((out / f"runs/{algorithm}/metrics.json").read_text())
        assert metrics["rounds"] == 1 and 0.0 <= metrics["acc_global_test"] <= 1.0


def test_missing_torchvision_data_stops_with_the_files_to_get(tmp_path: Path) -> None:
    (tmp_path / "paper").mkdir()
    params = _pipeline(tmp_path / "paper", tmp_path / "empty")
    result = runner.invoke(app, ["run-stage", "prepare", "--variant", "mnist_iid", "--params", str(params)])
    assert result.exit_code == 1
    assert "MNIST not found in" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "paper/mnist_iid/data/prepared").exists()
