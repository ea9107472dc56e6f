"""`kill -9` a real training process at several points, run the stage again, and compare with
an uninterrupted run: same final models and metrics, bit for bit, in the same MLflow run."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import cli_env, small_params

ALGORITHM = "fml"


def _project(small_data: Path, root: Path) -> Path:
    shutil.copytree(small_data / "data", root / "data")
    (root / ".dvc").mkdir()
    raw = small_params(rounds=3, clients_per_round=0.5).model_dump(by_alias=True)
    raw["tracking"].update(enabled=True, experiment="kill-test")
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root


def _train(root: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, *prefix, "run-stage", "train", "--algorithm", ALGORITHM] if prefix else \
        [sys.executable, "-m", "fmlpipe", "run-stage", "train", "--algorithm", ALGORITHM]
    return subprocess.run(cmd, cwd=root, env=cli_env(), capture_output=True, text=True, timeout=600)


def _results(root: Path) -> dict[str, bytes]:
    run_dir = root / "runs" / ALGORITHM
    keep = ("models", "history.csv", "rounds.csv", "clients.csv", "metrics.json")
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and str(p.relative_to(run_dir)).startswith(keep)}


@pytest.fixture(scope="module")
def uninterrupted(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = _project(small_data, tmp_path_factory.mktemp("whole"))
    done = _train(root)
    assert done.returncode == 0, done.stderr
    return _results(root)


@pytest.mark.parametrize(("point", "nth"), [("round", 2), ("checkpoint", 2), ("evaluation", 3), ("round", 1)])
def test_killed_then_resumed_equals_uninterrupted(point: str, nth: int, small_data: Path, tmp_path: Path,
                                                   uninterrupted: dict[str, bytes]) -> None:
    root = _project(small_data, tmp_path)
    killed = _train(root, "-m", "tests.reliability.killer", point, str(nth), "--")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (root / "runs" / ALGORITHM / "metrics.json").exists()
    resumed = _train(root)
    assert resumed.returncode == 0, resumed.stderr
    assert _results(root) == uninterrupted
    assert not list((root / "runs" / ALGORITHM).glob(".*.tmp"))  # no stale temp file left
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("kill-test").experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 11  # the same run continued, no duplicate
    assert {r.info.status for r in runs} == {"FINISHED"}  # none left RUNNING
    steps = [m.step for m in client.get_metric_history(parents[0].info.run_id, "lr")]
    assert steps == [1, 2, 3]  # no round logged twice
