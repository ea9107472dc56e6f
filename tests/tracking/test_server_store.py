"""A real ``mlflow server`` as the tracking store: what a client logs over HTTP reads back
exactly, artifacts included (uploaded through the server, not written beside it)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient


def test_runs_metrics_and_artifacts_round_trip(mlflow_server: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    client = MlflowClient()
    assert mlflow.get_tracking_uri() == mlflow_server

    experiment_id = client.create_experiment("server-store")
    run = client.create_run(experiment_id, run_name="fml")
    run_id = run.info.run_id
    for step, value in enumerate([0.25, 0.5, 0.75], start=1):
        client.log_metric(run_id, "acc_personalized_mean", value, step=step, timestamp=1000 + step)
    note = tmp_path / "note.txt"
    note.write_text("round 3: 0.75\n")
    client.log_artifact(run_id, str(note), artifact_path="reports")
    client.set_terminated(run_id)

    back = client.get_run(run_id)
    assert back.info.run_name == "fml" and back.info.status == "FINISHED"
    assert back.info.experiment_id == experiment_id
    assert client.get_experiment(experiment_id).name == "server-store"
    assert back.info.artifact_uri.startswith("mlflow-artifacts:/")  # proxied by the server
    history = client.get_metric_history(run_id, "acc_personalized_mean")
    assert [(m.step, m.value, m.timestamp) for m in history] == [(1, 0.25, 1001), (2, 0.5, 1002), (3, 0.75, 1003)]
    assert back.data.metrics == {"acc_personalized_mean": 0.75}
    assert [a.path for a in client.list_artifacts(run_id, "reports")] == ["reports/note.txt"]
    local = client.download_artifacts(run_id, "reports/note.txt", str(tmp_path / "download"))
    assert Path(local).read_text() == "round 3: 0.75\n"
