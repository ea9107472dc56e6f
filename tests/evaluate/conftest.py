"""Real runs to evaluate: fml, fedavg and local trained for 2 rounds on the small setup, once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fmlpipe.config import Params
from fmlpipe.paths import Paths
from fmlpipe.train.stage import run_train
from tests.conftest import small_params

ALGORITHMS = ("fml", "fedavg", "local")


def eval_params() -> Params:
    """The small setup, 2 rounds, with the sections of fml, fedavg and local alone (fedprox's
    training is the slowest; fedavg_ft's is fedavg's)."""
    params = small_params(rounds=2)
    return params.model_copy(update={"algorithms": {k: v for k, v in params.algorithms.items() if k in ALGORITHMS}})


@pytest.fixture(scope="session")
def trained(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trained")
    shutil.copytree(small_data / "data", root / "data")
    for algorithm in ALGORITHMS:
        run_train(eval_params(), Paths(root), algorithm)
    return root


@pytest.fixture
def runs_project(trained: Path, tmp_path: Path) -> Paths:
    """A private copy of the trained project (without model files) for one test to evaluate or break."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("models", "checkpoint.safetensors"))
    return Paths(tmp_path)
