"""Raw sources on tiny files in their real layouts, with the pinned digests monkeypatched."""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from fmlpipe.config.schema import DATASETS
from fmlpipe.data import mnist
from fmlpipe.data.sources import SOURCES, load_source
from fmlpipe.errors import DataError, ParamsError
from tests.data.datakit import write_cifar10_layout, write_mnist_layout


def _digests(folder: Path, algorithm: str, content: bool = False) -> dict[str, str]:
    """Digest of each file in ``folder``, or of its decompressed content keyed by stem."""
    out = {}
    for path in folder.iterdir():
        data = path.read_bytes()
        if content:
            name, data = path.name.removesuffix(".gz"), gzip.decompress(data)
        else:
            name = path.name
        out[name] = hashlib.new(algorithm, data).hexdigest()
    return out


def _message(dataset: str, root: Path, download: bool = False) -> str:
    with pytest.raises(DataError) as info:
        load_source(dataset, root, download)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_registry_covers_every_dataset_the_schema_allows() -> None:
    assert tuple(SOURCES) == DATASETS
    with pytest.raises(ParamsError, match="unknown"):
        load_source("svhn", Path("."), False)


def test_mnist_constants_are_torchvisions() -> None:
    # copied into fmlpipe.data.mnist so that reading local IDX files skips importing torchvision
    assert dict(datasets.MNIST.resources) == mnist.MNIST_GZ_MD5
    assert tuple(datasets.FashionMNIST.classes) == mnist.FASHION_CLASSES
    assert tuple(datasets.MNIST.classes) == mnist.MNIST_CLASSES


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool) -> None:
    folder = tmp_path / "MNIST" / "raw"
    arrays = write_mnist_layout(folder, gz)
    monkeypatch.setattr(mnist, "MNIST_GZ_MD5", _digests(folder, "md5") if gz else {})
    raw = load_source("mnist", tmp_path, download=False)
    assert raw.train_x.shape == (6, 1, 5, 4) and raw.test_x.shape == (4, 1, 5, 4)
    assert raw.train_x.dtype == torch.uint8 and raw.train_y.dtype == torch.int64
    assert torch.equal(raw.train_x[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert raw.train_y.tolist() == [0, 1, 2, 9, 1, 0]
    assert raw.test_y.tolist() == [3, 3, 9, 0]
    assert raw.class_names == tuple(datasets.MNIST.classes)
    assert raw.files == _digests(folder, "sha256")
    assert raw.source == f"{folder} (torchvision layout)"


def test_mnist_md5_mismatch_names_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "MNIST" / "raw"
    write_mnist_layout(folder, gz=True)
    pinned = _digests(folder, "md5")
    actual = pinned["t10k-labels-idx1-ubyte.gz"]
    pinned["t10k-labels-idx1-ubyte.gz"] = "0" * 32
    monkeypatch.setattr(mnist, "MNIST_GZ_MD5", pinned)
    message = _message("mnist", tmp_path)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    assert message.startswith(f"{bad}: md5 of the file is {actual}, expected {'0' * 32}: ")
    assert "data.download: true" in message


def test_mnist_missing(tmp_path: Path) -> None:
    message = _message("mnist", tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte(.gz)" in message and "t10k-labels-idx1-ubyte(.gz)" in message
    assert "data.download: true" in message


def test_mnist_download_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Offline:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            raise urllib.error.URLError("[Errno -3] Temporary failure\nin name resolution")

    monkeypatch.setattr(datasets, "MNIST", Offline)
    message = _message("mnist", tmp_path, download=True)
    assert message.startswith(f"downloading MNIST into {tmp_path} failed (URLError:")
    assert f"in {tmp_path / 'MNIST' / 'raw'}" in message


def test_fashion_prefers_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "FashionMNIST" / "raw"
    write_mnist_layout(folder, gz=True)
    monkeypatch.setattr(mnist, "FASHION_SHA256", _digests(folder, "sha256", content=True))
    raw = load_source("fashion_mnist", tmp_path, download=False)
    assert raw.source == f"{folder} (torchvision layout)"
    assert raw.class_names[0] == "T-shirt/top" and len(raw.class_names) == 10


def test_fashion_from_debian_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tmp_path / "usr-share"
    write_mnist_layout(debian, gz=True, seed=1)
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_DIR", debian)
    monkeypatch.setattr(mnist, "FASHION_SHA256", _digests(debian, "sha256", content=True))
    raw = load_source("fashion_mnist", tmp_path / "raw", download=False)
    assert raw.source == f"{debian} (Debian package dataset-fashion-mnist)"
    assert raw.train_x.shape == (6, 1, 5, 4)


def test_fashion_content_digest_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tmp_path / "usr-share"
    write_mnist_layout(debian, gz=True)
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_DIR", debian)
    message = _message("fashion_mnist", tmp_path / "raw")  # the real pins do not match tiny files
    bad = debian / "train-images-idx3-ubyte.gz"
    assert message.startswith(f"{bad}: sha256 of the decompressed content is ")
    assert message.endswith("run `sudo apt-get install --reinstall dataset-fashion-mnist`")


def test_fashion_missing_points_to_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_DIR", tmp_path / "no-such-dir")
    message = _message("fashion_mnist", tmp_path / "raw")
    folders = f"{tmp_path / 'raw' / 'FashionMNIST' / 'raw'} or {tmp_path / 'no-such-dir'}"
    assert message == (
        f"Fashion-MNIST not found in {folders}: run `sudo apt-get install dataset-fashion-mnist`, "
        "or set data.download: true where the network allows"
    )


def test_fashion_download_writes_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeDownload:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            write_mnist_layout(Path(root) / "FashionMNIST" / "raw", gz=True)

    folder = tmp_path / "FashionMNIST" / "raw"
    monkeypatch.setattr(mnist, "DEBIAN_FASHION_DIR", tmp_path / "no-such-dir")
    monkeypatch.setattr(datasets, "FashionMNIST", FakeDownload)
    write_mnist_layout(tmp_path / "pins", gz=True)
    monkeypatch.setattr(mnist, "FASHION_SHA256", _digests(tmp_path / "pins", "sha256", content=True))
    raw = load_source("fashion_mnist", tmp_path, download=True)
    assert raw.source == f"{folder} (downloaded by torchvision)"


@pytest.fixture
def cifar10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """A tiny CIFAR-10 under ``tmp_path`` with torchvision's md5 lists pinned to it."""
    expected = write_cifar10_layout(tmp_path)
    md5 = _digests(tmp_path / "cifar-10-batches-py", "md5")
    train = [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)]
    monkeypatch.setattr(datasets.CIFAR10, "train_list", train)
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    meta = {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]}
    monkeypatch.setattr(datasets.CIFAR10, "meta", meta)
    return expected


def test_cifar10_tiny(tmp_path: Path, cifar10: dict[str, np.ndarray]) -> None:
    raw = load_source("cifar10", tmp_path, download=False)
    assert raw.train_x.shape == (10, 3, 32, 32) and raw.test_x.shape == (2, 3, 32, 32)
    assert raw.train_x.dtype == torch.uint8 and raw.train_y.dtype == torch.int64
    # CIFAR rows are 1024 red, then 1024 green, then 1024 blue values: exactly [C, H, W]
    assert torch.equal(raw.train_x.reshape(10, 3072), torch.from_numpy(cifar10["train_rows"]))
    assert torch.equal(raw.test_x.reshape(2, 3072), torch.from_numpy(cifar10["test_rows"]))
    assert raw.train_y.tolist() == cifar10["train_labels"].tolist()
    assert raw.test_y.tolist() == [5, 6]
    assert raw.class_names == tuple(f"class{c}" for c in range(10))
    assert raw.files == _digests(tmp_path / "cifar-10-batches-py", "sha256")


def test_cifar10_corrupt_batch_named(tmp_path: Path, cifar10: dict[str, np.ndarray]) -> None:
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(bad.read_bytes()[:-10])
    message = _message("cifar10", tmp_path)
    assert message.startswith(f"{bad}: md5 of the file is ")
    assert "extract cifar-10-python.tar.gz into" in message


def test_cifar10_missing_file_named(tmp_path: Path, cifar10: dict[str, np.ndarray]) -> None:
    missing = tmp_path / "cifar-10-batches-py" / "test_batch"
    missing.unlink()
    assert _message("cifar10", tmp_path).startswith(f"{missing} is missing: set data.download: true")


def test_cifar100_missing(tmp_path: Path) -> None:
    missing = tmp_path / "cifar-100-python" / "train"
    assert _message("cifar100", tmp_path).startswith(f"{missing} is missing")
