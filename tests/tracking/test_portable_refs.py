"""``runs/<algorithm>/mlflow.json`` holds no absolute path: a project moved or cloned to another
folder resumes and evaluates in its own store, and never writes into the old folder's."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import mlflow
import torch
from mlflow import MlflowClient

from fmlpipe.tracking.relocate import COLUMNS
from fmlpipe.tracking.store import project_store_uri
from fmlpipe.tracking.train_tracker import fluent_uri
from tests.tracking.kit import EXPERIMENT, copy_project, fmlpipe, hashes, tracked_project

TRAIN = ("run-stage", "train", "--algorithm", "fml")
KILL_AT_ROUND = ("-m", "tests.reliability.killer", "round")  # SIGKILL itself in the N-th round it trains


def _ref_file(root: Path) -> Path:
    return root / "runs" / "fml" / "mlflow.json"


def _runs(root: Path) -> list:
    client = MlflowClient(project_store_uri(root))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return [] if experiment is None else client.search_runs([experiment.experiment_id], max_results=1000)


def test_a_moved_project_resumes_its_run_in_its_own_store(small_data: Path, tmp_path: Path) -> None:
    first = tracked_project(tmp_path / "first", small_data, rounds=3)
    killed = fmlpipe(first, *TRAIN, prefix=(*KILL_AT_ROUND, "2", "--"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ref = json.loads(_ref_file(first).read_text())
    assert ref["tracking_uri"] is None  # the project's own store, wherever the project is

    moved = first.rename(tmp_path / "moved")
    # Killed again, in round 3: round 2 is in the checkpoint and in the run.
    killed = fmlpipe(moved, *TRAIN, prefix=(*KILL_AT_ROUND, "2", "--"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert f"note: tracking store {moved / 'mlflow.db'} was moved or copied" in killed.stderr
    # A reference as written before this change: this very store, by its absolute path.
    _ref_file(moved).write_text(json.dumps({**ref, "tracking_uri": project_store_uri(moved)}))
    done = fmlpipe(moved, *TRAIN)
    assert done.returncode == 0, done.stderr

    assert not first.exists()  # nothing written at the old path (MLflow would create the folder)
    runs = _runs(moved)
    assert len(runs) == 11 and {r.info.status for r in runs} == {"FINISHED"}  # one run, continued
    client = MlflowClient(project_store_uri(moved))
    assert [m.step for m in client.get_metric_history(ref["run_id"], "lr")] == [1, 2, 3]  # none twice
    text = _ref_file(moved).read_text()
    assert json.loads(text)["run_id"] == ref["run_id"] and json.loads(text)["tracking_uri"] is None
    assert str(tmp_path) not in text and "sqlite" not in text
    # its artifacts went to the moved folder's mlartifacts/ too
    assert client.get_run(ref["run_id"]).info.artifact_uri.startswith((moved / "mlartifacts").as_uri() + "/")
    assert "results" in {a.path for a in client.list_artifacts(ref["run_id"])}


def test_a_project_copied_with_its_store_logs_into_its_own_run_and_folder(trained_fml: Path, tmp_path: Path) -> None:
    copy = copy_project(trained_fml, tmp_path / "copy")  # its store still names the original's folder
    run_id = json.loads(_ref_file(copy).read_text())["run_id"]
    untouched = hashes(trained_fml)
    done = fmlpipe(copy, "run-stage", "evaluate")
    assert done.returncode == 0, done.stderr
    assert hashes(trained_fml) == untouched  # no comparison artifact written into the original
    client = MlflowClient(project_store_uri(copy))
    assert "compare.fml.acc_personalized_mean" in client.get_run(run_id).data.metrics
    assert client.get_run(run_id).info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/")
    # What the train stage logged before the copy is found in the copy's folder: result files,
    # the comparison just logged, and the global model behind a runs:/ URI.
    logged = client.download_artifacts(run_id, "results/metrics.json", str(tmp_path / "dl"))
    assert Path(logged).read_bytes() == (copy / "runs" / "fml" / "metrics.json").read_bytes()
    assert "comparison/comparison.md" in {a.path for a in client.list_artifacts(run_id, "comparison")}
    with fluent_uri(project_store_uri(copy)):
        model = mlflow.pytorch.load_model(f"runs:/{run_id}/global_model")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # No artifact location in the copy's store names the original's folder any more (but the
    # Default experiment's, which MLflow puts at mlruns/0 and fmlpipe never logs to).
    with sqlite3.connect(copy / "mlflow.db") as con:
        locations = [uri for table, column in COLUMNS for (uri,) in con.execute(f"SELECT {column} FROM {table}")]
    con.close()
    assert len(locations) == 2 + 11 + 1  # experiments (Default and ours), runs, the global model
    assert [uri for uri in locations if str(trained_fml) in uri] == [str(trained_fml / "mlruns" / "0")]


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
