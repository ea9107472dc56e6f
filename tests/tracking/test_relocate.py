"""Which artifact locations of a project's own store are rewritten: those whose artifacts came
along with the store, never another project's that logs into it."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlflow import MlflowClient

from fmlpipe.tracking.relocate import relocate_artifacts
from fmlpipe.tracking.store import project_store_uri, resolve_store
from tests.conftest import small_params


def test_another_projects_artifacts_stay_until_they_are_here(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    (mine / ".dvc").mkdir(parents=True)
    store = resolve_store(small_params().tracking, mine, env={})
    # Another project logs into this store (MLFLOW_TRACKING_URI), its artifacts in its own folder.
    client = MlflowClient(project_store_uri(mine))
    experiment = client.create_experiment("theirs", artifact_location=(theirs / "mlartifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    (tmp_path / "result.txt").write_text("theirs")
    client.log_artifact(run_id, str(tmp_path / "result.txt"))
    recorded = client.get_run(run_id).info.artifact_uri
    assert recorded == f"{(theirs / 'mlartifacts').as_uri()}/{run_id}/artifacts"

    assert relocate_artifacts(store) == []
    assert client.get_run(run_id).info.artifact_uri == recorded

    # The same artifacts copied along with the store: now they are this project's.
    shutil.copytree(theirs / "mlartifacts", mine / "mlartifacts")
    assert relocate_artifacts(store) == [(theirs / "mlartifacts").as_uri()]
    assert client.get_run(run_id).info.artifact_uri == f"{store.artifact_root}/{run_id}/artifacts"
    assert client.get_experiment(experiment).artifact_location == store.artifact_root
    assert Path(client.download_artifacts(run_id, "result.txt", str(tmp_path / "dl"))).read_text() == "theirs"
    assert relocate_artifacts(store) == []  # done once
