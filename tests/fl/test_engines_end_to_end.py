"""The train stage with either engine on the small real setup: the same run within rounding."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from fmlpipe.paths import Paths
from fmlpipe.train.stage import run_train
from tests.fl.conftest import small_params


@pytest.mark.parametrize("algorithm", ["fml", "fedprox"])
def test_vectorized_stage_reproduces_the_sequential_stage(algorithm: str, project: Paths,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    other = Paths(tmp_path_factory.mktemp("vectorized"))
    shutil.copytree(project.root / "data", other.root / "data")
    base = small_params(rounds=2, clients_per_round=0.5)
    sgd = base.federation.optimizer.model_copy(update={"momentum": 0.9, "weight_decay": 5e-4})
    run_train(small_params(rounds=2, clients_per_round=0.5, optimizer=sgd, engine="sequential"), project, algorithm)
    run_train(small_params(rounds=2, clients_per_round=0.5, optimizer=sgd, engine="vectorized"), other, algorithm)
    models = sorted(p.name for p in (project.run_dir(algorithm) / "models").glob("*.safetensors"))
    assert models == sorted(p.name for p in (other.run_dir(algorithm) / "models").glob("*.safetensors"))
    for name in models:
        a = load_file(project.run_dir(algorithm) / "models" / name)
        b = load_file(other.run_dir(algorithm) / "models" / name)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-5)
    ma = json.loads((project.run_dir(algorithm) / "metrics.json").read_text())
    mb = json.loads((other.run_dir(algorithm) / "metrics.json").read_text())
    assert ma.keys() == mb.keys()
    for key, value in ma.items():
        assert mb[key] == (pytest.approx(value, abs=0.01) if isinstance(value, float) else value)
