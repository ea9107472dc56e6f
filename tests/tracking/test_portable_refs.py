"""``runs/<algorithm>/mlflow.json`` holds no absolute path: a project moved or cloned to another
folder resumes and evaluates in its own store, and never writes into the old folder's."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow import MlflowClient

from fmlpipe.tracking.store import project_store_uri

from tests.tracking.kit import EXPERIMENT, copy_project, fmlpipe, hashes

TRAIN = ("run-stage", "train", "--algorithm", "fml")


def _ref_file(root: Path) -> Path:
    return root / "runs" / "fml" / "mlflow.json"


def _runs(root: Path) -> list:
    client = MlflowClient(project_store_uri(root))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return [] if experiment is None else client.search_runs([experiment.experiment_id], max_results=1000)


def test_a_clone_with_an_old_absolute_reference_records_in_its_own_store(trained_fml: Path, tmp_path: Path) -> None:
    original = copy_project(trained_fml, tmp_path / "original")
    # A clone: the committed and DVC-tracked files, without the git-ignored store and checkpoint.
    clone = copy_project(original, tmp_path / "clone", "mlflow.db", "mlartifacts", ".mlflow.lock")
    (clone / "runs" / "fml" / "checkpoint.safetensors").unlink()
    old = json.loads(_ref_file(clone).read_text())
    # The reference as committed before this change: the original's store, by its absolute path.
    _ref_file(clone).write_text(json.dumps({**old, "tracking_uri": project_store_uri(original)}))
    untouched = hashes(original)

    done = fmlpipe(clone, "run-stage", "evaluate")
    assert done.returncode == 0, done.stderr
    assert f"runs/fml/mlflow.json names another tracking store ({project_store_uri(original)})" in done.stderr
    assert not (clone / "mlflow.db").exists()  # no store opened for a run that is not in it

    done = fmlpipe(clone, *TRAIN)
    assert done.returncode == 0, done.stderr
    ref = json.loads(_ref_file(clone).read_text())
    assert ref["tracking_uri"] is None and ref["run_id"] != old["run_id"]  # a new run, in the clone's store
    assert {r.info.run_id for r in _runs(clone)} >= {ref["run_id"], *ref["client_runs"].values()}

    done = fmlpipe(clone, "run-stage", "evaluate")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    client = MlflowClient(project_store_uri(clone))
    assert "compare.fml.acc_personalized_mean" in client.get_run(ref["run_id"]).data.metrics
    assert hashes(original) == untouched  # the original project's store was never written


def test_evaluate_skips_a_run_its_store_lacks(trained_fml: Path, tmp_path: Path) -> None:
    # A clone whose reference is already portable, but whose store (git-ignored) is new.
    clone = copy_project(trained_fml, tmp_path / "clone", "mlflow.db", "mlartifacts")
    run_id = json.loads(_ref_file(clone).read_text())["run_id"]
    done = fmlpipe(clone, "run-stage", "evaluate")
    assert done.returncode == 0, done.stderr
    assert f"runs/fml/mlflow.json names run {run_id}, which tracking store {clone / 'mlflow.db'} lacks" in done.stderr
    assert (clone / "reports" / "metrics.json").is_file()
