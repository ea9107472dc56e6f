from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fmlpipe.config import Params
from fmlpipe.errors import ParamsError
from fmlpipe.partition import stage
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths
from tests.conftest import with_section
from tests.partition.conftest import balanced

LABELS = balanced(num_classes=4, per_class=30)  # N = 120


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in prepared dataset: only what the stage reads (labels and the class count)."""
    data = SimpleNamespace(train_y=torch.from_numpy(LABELS.copy()), num_classes=4)
    monkeypatch.setattr(stage, "load_prepared", lambda paths: data)


def _params(params: Params, **changes: object) -> Params:
    base = {"scheme": "shards", "num_clients": 6, "classes_per_client": 2, "min_samples": 5}
    return with_section(params, "partition", **{**base, **changes})


@pytest.mark.usefixtures("prepared")
def test_stage_writes_partition_stats_csv_heatmap(tmp_path: Path, params: Params) -> None:
    paths = Paths(tmp_path)
    summary = stage.run_partition(_params(params), paths)

    partition = Partition.load(paths.partition_file)
    assert partition.num_clients == 6 and partition.scheme == "shards"
    on_disk = json.loads(paths.partition_stats.read_text())
    assert on_disk == summary
    assert summary["partition_hash"] == partition.content_hash()
    assert summary["params"]["classes_per_client"] == 2 and summary["seed"] == params.base.seed
    assert sum(summary["train_sizes"]) + sum(summary["test_sizes"]) == LABELS.size
    # every client holds exactly two classes, and its local test split keeps both
    assert all(sum(1 for c in row if c) == 2 for row in summary["train_counts"])
    assert all(sum(1 for c in row if c) == 2 for row in summary["test_counts"])
    lines = paths.partition_csv.read_text().splitlines()
    assert lines[0] == "client,train,test" and len(lines) == 7
    assert paths.partition_heatmap.read_bytes().startswith(b"\x89PNG")


@pytest.mark.usefixtures("prepared")
def test_stage_is_reproducible_and_seeded(tmp_path: Path, params: Params) -> None:
    p = _params(params, scheme="dirichlet", alpha=0.5)
    first = stage.run_partition(p, Paths(tmp_path / "a"))["partition_hash"]
    again = stage.run_partition(p, Paths(tmp_path / "b"))["partition_hash"]
    other_seed = with_section(p, "base", seed=params.base.seed + 1)
    other = stage.run_partition(other_seed, Paths(tmp_path / "c"))["partition_hash"]
    assert first == again != other


def test_stage_draws_are_not_the_plain_base_seed_stream() -> None:
    scheme_rng, split_rng = stage.stage_rngs(0)
    plain = np.random.default_rng(0).random(4)
    assert not np.allclose(scheme_rng.random(4), plain)
    assert not np.allclose(split_rng.random(4), plain)


@pytest.mark.usefixtures("prepared")
def test_stage_error_writes_nothing(tmp_path: Path, params: Params) -> None:
    with pytest.raises(ParamsError, match="partition.min_samples"):
        stage.run_partition(_params(params, num_clients=10, min_samples=13), Paths(tmp_path))
    assert not (tmp_path / "data").exists()
