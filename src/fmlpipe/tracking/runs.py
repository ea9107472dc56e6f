"""Open, resume and close MLflow runs. A stage's run id is kept in its outputs
(``mlflow.json``), so a resumed stage continues its run and ``evaluate`` finds it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from fmlpipe.io import write_json
from fmlpipe.tracking.faults import opened
from fmlpipe.tracking.store import TrackingStore

BATCH = 1000  # MLflow accepts at most 1000 metrics per log_batch call


@dataclass
class RunRef:
    """Where a stage's runs live; written to the stage's outputs as JSON."""

    tracking_uri: str | None  # None: the project's own store, wherever the project is (``TrackingStore.ref_uri``)
    experiment_id: str
    run_id: str
    fingerprint: str
    client_runs: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> RunRef | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def connect(store: TrackingStore) -> tuple[MlflowClient, str]:
    """A client on the checked store and the experiment id, creating the experiment (with the
    project's artifact root, fixed at creation) if needed."""
    with opened(store) as client:
        experiment = client.get_experiment_by_name(store.experiment)
        if experiment is not None:
            return client, experiment.experiment_id
        try:
            # A local store keeps artifacts in the project; a server decides where its go.
            location = store.artifact_root if store.is_local_sqlite else None
            return client, client.create_experiment(store.experiment, artifact_location=location)
        except MlflowException:  # created meanwhile by a concurrent stage on a remote server
            experiment = client.get_experiment_by_name(store.experiment)
            if experiment is None:
                raise
            return client, experiment.experiment_id


def live_run(client: MlflowClient, run_id: str) -> bool:
    """Whether ``run_id`` is in the client's store and not deleted."""
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException as exc:
        # Only a missing run: a store fault is the caller's to report, not a reason for a new run.
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise


def log_metrics(client: MlflowClient, run_id: str, metrics: list[Metric]) -> None:
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH], synchronous=True)


def create_run(client: MlflowClient, experiment_id: str, name: str, params: dict[str, str],
               tags: dict[str, str]) -> str:
    run = client.create_run(experiment_id, run_name=name, tags=tags)
    items = [Param(k, v) for k, v in params.items()]
    for start in range(0, len(items), 100):  # at most 100 params per batch
        client.log_batch(run.info.run_id, params=items[start : start + 100], synchronous=True)
    run_id: str = run.info.run_id  # Any to mypy: MLflow wraps it in an untyped decorator
    return run_id


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)
