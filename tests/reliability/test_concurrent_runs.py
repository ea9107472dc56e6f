"""Four train stages at once against one SQLite store: every run completes and is recorded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from mlflow import MlflowClient

from tests.conftest import small_params

ALGORITHMS = ("fml", "fedavg", "fedprox", "local")


def test_four_concurrent_train_stages_share_one_store(small_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(small_data / "data", root / "data")
    (root / ".dvc").mkdir()  # the project root, where the store lives
    raw = small_params(rounds=2).model_dump(by_alias=True)
    raw["tracking"].update(enabled=True, experiment="concurrent")
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    # A brand-new store: all four race for its first open (schema migration).
    procs = [
        subprocess.Popen([sys.executable, "-m", "fmlpipe", "run-stage", "train", "--algorithm", name],
                         cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name in ALGORITHMS
    ]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    for name, proc, out in zip(ALGORITHMS, procs, outputs):
        assert proc.returncode == 0, f"{name}:\n{out}"
        assert "database is locked" not in out
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("concurrent").experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.info.run_name for r in parents) == sorted(ALGORITHMS)
    assert len(runs) == 4 * (1 + 10)
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in parents:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "acc_personalized_mean")] == [1, 2]
