"""A small real federated setup: 10% of Fashion-MNIST over 10 Dirichlet(0.1) clients."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fmlpipe.config import Params, load_params
from fmlpipe.data.prepare import run_prepare
from fmlpipe.partition.stage import run_partition
from fmlpipe.paths import Paths

from tests.conftest import REPO, needs_fashion, with_section


def small_params(**federation: object) -> Params:
    params = load_params(REPO / "params.yaml")
    params = with_section(params, "data", train_fraction=0.1)
    params = with_section(params, "partition", num_clients=10, alpha=0.1, min_samples=20)
    params = with_section(params, "models", global_="mlp", local="mlp")
    params = with_section(params, "tracking", enabled=False)
    # Pinned here, not read from the repo's defaults, so the measured numbers in the tests hold.
    sgd = params.federation.optimizer.model_copy(update={"lr": 0.01, "momentum": 0.0, "weight_decay": 0.0})
    return with_section(params, "federation", **{"rounds": 3, "batch_size": 32, "optimizer": sgd, **federation})


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared and partitioned data, built once; tests copy it into their own folder."""
    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("real Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
    root = tmp_path_factory.mktemp("small")
    params = small_params()
    run_prepare(params, Paths(root))
    run_partition(params, Paths(root))
    return root


@pytest.fixture
def project(small_data: Path, tmp_path: Path) -> Paths:
    shutil.copytree(small_data / "data", tmp_path / "data")
    return Paths(tmp_path)


__all__ = ["needs_fashion", "small_params"]
