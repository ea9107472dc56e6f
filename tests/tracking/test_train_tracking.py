"""A train stage against a temporary SQLite store: runs, child runs, metric histories,
models, resume into the same run, FAILED on a crash."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient

import fmlpipe.train.stage as stage
from fmlpipe.data.store import load_prepared
from fmlpipe.fl import precision
from fmlpipe.model_files import load_model
from fmlpipe.partition.result import Partition
from fmlpipe.paths import Paths
from fmlpipe.train.stage import run_train
from tests.conftest import with_section
from tests.fl.conftest import small_params

ENV = {"DVC_STAGE": "train@fml", "DVC_EXP_NAME": "exp-test"}


def tracked(**federation: object):
    params = small_params(**federation)
    return with_section(params, "tracking", enabled=True, experiment="tracking-test")


def _client(project: Paths) -> MlflowClient:
    return MlflowClient(f"sqlite:///{project.root.resolve() / 'mlflow.db'}")


def _ref(project: Paths, algorithm: str = "fml") -> dict:
    return json.loads((project.run_dir(algorithm) / "mlflow.json").read_text())


def test_runs_children_histories_and_models(project: Paths) -> None:
    run_train(tracked(rounds=3, eval_every=2), project, "fml", ENV)
    client, ref = _client(project), _ref(project)
    experiment = client.get_experiment_by_name("tracking-test")
    runs = client.search_runs([experiment.experiment_id])
    parent = client.get_run(ref["run_id"])
    assert parent.info.run_name == "fml" and parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["fmlpipe.dvc_stage"] == "train@fml" and tags["fmlpipe.dvc_experiment"] == "exp-test"
    assert tags["fmlpipe.dataset_sha256"] == load_prepared(project).card["dataset_sha256"]
    assert tags["fmlpipe.partition_hash"] == Partition.load(project.partition_file).content_hash()
    assert tags["fmlpipe.code_sha256"] == stage.code_sha256()
    assert (tags["fmlpipe.cpu"], tags["fmlpipe.torch"]) == (precision.cpu_model() or "unknown", torch.__version__)
    assert parent.data.params["federation.optimizer.lr"] == "0.01"
    assert parent.data.params["models.global"] == "mlp"

    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == ref["run_id"]]
    assert sorted(r.info.run_name for r in children) == [f"client-{i:03d}" for i in range(10)]
    assert len(runs) == 11
    # evaluated rounds 2 and 3 (eval_every=2, and always the last); training metrics every round
    assert [m.step for m in client.get_metric_history(ref["run_id"], "acc_personalized_mean")] == [2, 3]
    assert [m.step for m in client.get_metric_history(ref["run_id"], "lr")] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(ref["run_id"], "beta")] == [1, 2, 3]
    child = ref["client_runs"]["client-004"]
    assert client.get_run(child).data.params.items() >= {"arch": "mlp", "task": "full"}.items()
    assert client.get_run(child).data.tags["fmlpipe.task"] == "full"
    history = client.get_metric_history(child, "acc_personalized")
    with open(project.run_dir("fml") / "clients.csv", newline="") as fh:
        recorded = [float(r["acc_personalized"]) for r in csv.DictReader(fh) if r["client"] == "4"]
    assert [m.value for m in history] == recorded

    # the global model is an MLflow PyTorch model that loads and predicts any batch size
    mlflow.set_tracking_uri(client.tracking_uri)
    model = mlflow.pytorch.load_model(f"runs:/{ref['run_id']}/global_model")
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    # its requirements are declared (torch and MLflow pinned), not inferred by a slow subprocess
    requirements = Path(mlflow.pyfunc.get_model_dependencies(f"runs:/{ref['run_id']}/global_model")).read_text()
    pins = dict(line.split("==") for line in requirements.split())
    assert pins["torch"] == torch.__version__.split("+")[0] and pins["mlflow"] == mlflow.__version__
    assert set(pins) == {"mlflow", "torch", "cloudpickle"}

    # the personalized model, taken from the child run's artifacts, reproduces its accuracy
    path = client.download_artifacts(child, "model/client-004.safetensors", str(project.root / "dl"))
    personal = load_model(path)
    prepared = load_prepared(project)
    idx = torch.tensor(Partition.load(project.partition_file).test[4])
    acc = (personal(prepared.train_x[idx].float() / 255).argmax(1) == prepared.train_y[idx]).double().mean().item()
    assert acc == pytest.approx(recorded[-1], abs=1e-12)


def test_resume_continues_the_same_run_without_duplicates(project: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    real_save = stage.save_checkpoint

    def crash(path, state, personal, key):  # type: ignore[no-untyped-def]
        real_save(path, state, personal, key)
        if state.round == 2:
            raise RuntimeError("power cut")

    monkeypatch.setattr(stage, "save_checkpoint", crash)
    with pytest.raises(RuntimeError):
        run_train(tracked(rounds=3), project, "fml", ENV)
    client, ref = _client(project), _ref(project)
    assert client.get_run(ref["run_id"]).info.status == "FAILED"
    assert client.get_run(ref["client_runs"]["client-000"]).info.status == "FAILED"
    monkeypatch.setattr(stage, "save_checkpoint", real_save)
    run_train(tracked(rounds=3), project, "fml", ENV)
    assert _ref(project)["run_id"] == ref["run_id"]
    assert client.get_run(ref["run_id"]).info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(ref["run_id"], "lr")] == [1, 2, 3]
    experiment = client.get_experiment_by_name("tracking-test")
    assert len(client.search_runs([experiment.experiment_id])) == 11
    # nothing changed: a second run of the stage opens no new run and logs no new points
    run_train(tracked(rounds=3), project, "fml", ENV)
    assert len(client.search_runs([experiment.experiment_id])) == 11
    assert [m.step for m in client.get_metric_history(ref["run_id"], "lr")] == [1, 2, 3]


def test_other_params_or_training_code_open_a_new_run(project: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    run_train(tracked(rounds=1), project, "fedavg", ENV)
    first = _ref(project, "fedavg")["run_id"]
    run_train(tracked(rounds=2), project, "fedavg", ENV)
    second = _ref(project, "fedavg")["run_id"]
    assert second != first
    monkeypatch.setattr(stage, "code_sha256", lambda: "f" * 64)  # as after an edit of the training code
    run_train(tracked(rounds=2), project, "fedavg", ENV)
    assert _ref(project, "fedavg")["run_id"] not in (first, second)


def test_tracking_uri_from_the_environment_wins(project: Paths, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    run_train(tracked(rounds=1), project, "local", {"MLFLOW_TRACKING_URI": uri})
    assert _ref(project, "local")["tracking_uri"] == uri
    assert not (project.root / "mlflow.db").exists()
    runs = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("tracking-test").experiment_id])
    assert {r.info.run_name for r in runs} >= {"local", "client-000"}


def test_unreachable_tracking_server_fails_fast_before_training(project: Paths) -> None:
    import socket

    from fmlpipe.errors import FmlpipeError

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    with pytest.raises(FmlpipeError, match=f"tracking server {uri} is unreachable .*tracking.enabled: false"):
        run_train(tracked(rounds=1), project, "fedavg", {"MLFLOW_TRACKING_URI": uri})
    assert not (project.run_dir("fedavg") / "checkpoint.safetensors").exists()


def test_train_stage_logs_into_a_real_mlflow_server(project: Paths, mlflow_server: str) -> None:
    run_train(tracked(rounds=2), project, "fedprox", {"MLFLOW_TRACKING_URI": mlflow_server})
    ref = _ref(project, "fedprox")
    assert ref["tracking_uri"] == mlflow_server
    client = MlflowClient(mlflow_server)
    run = client.get_run(ref["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "fedprox"
    assert [m.step for m in client.get_metric_history(ref["run_id"], "acc_personalized_mean")] == [1, 2]
    assert "results" in {a.path for a in client.list_artifacts(ref["run_id"])}
    downloaded = Path(client.download_artifacts(ref["run_id"], "results/metrics.json", str(project.root / "dl")))
    assert downloaded.read_bytes() == (project.run_dir("fedprox") / "metrics.json").read_bytes()
    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.pytorch.load_model(f"runs:/{ref['run_id']}/global_model")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_fluent_uri_leaves_the_tracking_uri_as_it_found_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fmlpipe.tracking.train_tracker import fluent_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with fluent_uri(f"sqlite:///{tmp_path / 'a.db'}"):
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'a.db'}"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")  # set later: honoured, not shadowed
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:1"
    with fluent_uri(f"sqlite:///{tmp_path / 'b.db'}"):
        pass
    assert os.environ["MLFLOW_TRACKING_URI"] == mlflow.get_tracking_uri() == "http://127.0.0.1:1"
