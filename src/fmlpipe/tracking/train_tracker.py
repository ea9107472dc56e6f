"""What a ``train`` stage records in MLflow: one run per algorithm with its params,
provenance tags and per-round metrics (step = round), one nested child run per client with
that client's metrics and personalized model, and the global model as an MLflow model."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric

from fmlpipe.errors import FmlpipeError
from fmlpipe.metrics import CLIENT, ROUND, Row, RunLog
from fmlpipe.model_files import load_model
from fmlpipe.tracking.clients import ClientInfo
from fmlpipe.tracking.faults import store_faults
from fmlpipe.tracking.model_requirements import modules_of, pinned_requirements
from fmlpipe.tracking.runs import RunRef, connect, create_run, live_run, log_metrics, set_tags
from fmlpipe.tracking.store import TrackingStore

ROUND_MARK = "round"  # logged last each round: the last round whose metrics are all in
COMPLETE_TAG = "fmlpipe.complete"


def _metrics(row: Row, step: int, skip: tuple[str, ...]) -> list[Metric]:
    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, step) for k, v in row.items() if k not in skip]


@contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global (fluent) API at ``uri`` for a block, then restore it:
    ``mlflow.set_tracking_uri`` also sets ``MLFLOW_TRACKING_URI`` in the environment, which
    would leak into every later run and subprocess of this process."""
    before_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        # Unset (fmlpipe sets it nowhere else), not set back to what get_tracking_uri() said
        # before: that would pin the default, and every later client in this process would
        # ignore MLFLOW_TRACKING_URI.
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it; the stub says str only
        if before_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = before_env


class MlflowTrainTracker:
    def __init__(self, store: TrackingStore, algorithm: str, fingerprint: str, params: dict[str, str],
                 tags: dict[str, str], clients: list[ClientInfo], ref_path: Path, variant: str | None = None):
        self.store, self.algorithm, self.fingerprint = store, algorithm, fingerprint
        # A pipeline variant's run is named <variant>/<algorithm> and tagged with the variant.
        self.run_name = f"{variant}/{algorithm}" if variant else algorithm
        if variant:
            tags = {**tags, "fmlpipe.variant": variant}
        self.params, self.tags, self.clients, self.ref_path = params, tags, clients, ref_path
        # Before training: a faulty store stops the stage here, its outputs untouched.
        self.client, self.experiment_id = connect(store)
        with store_faults(store):
            self.ref = self._open()
            history = self.client.get_metric_history(self.ref.run_id, ROUND_MARK)
        self.logged = int(max((m.value for m in history), default=0))

    def _open(self) -> RunRef:
        old = RunRef.load(self.ref_path)
        # The reference's store must be this one: after a move or clone, an old absolute path
        # names another project's store, which this stage must not write into.
        if (old is not None and old.fingerprint == self.fingerprint and self.store.owns(old.tracking_uri)
                and live_run(self.client, old.run_id)):
            self.client.update_run(old.run_id, status="RUNNING")
            for run_id in old.client_runs.values():
                self.client.update_run(run_id, status="RUNNING")
            if old.tracking_uri != self.store.ref_uri:  # an old absolute path to this very store
                old.tracking_uri = self.store.ref_uri
                old.save(self.ref_path)
            return old
        run_id = create_run(self.client, self.experiment_id, self.run_name, self.params,
                            {**self.tags, "fmlpipe.algorithm": self.algorithm})
        ref = RunRef(self.store.ref_uri, self.experiment_id, run_id, self.fingerprint)
        for info in self.clients:
            ref.client_runs[info.name] = create_run(
                self.client, self.experiment_id, info.name,
                {"train_samples": str(info.train_samples), "test_samples": str(info.test_samples),
                 "label_histogram": json.dumps(list(info.label_histogram)), "arch": info.arch, "task": info.task},
                {"mlflow.parentRunId": run_id, "fmlpipe.algorithm": self.algorithm, "fmlpipe.client": info.name,
                 "fmlpipe.arch": info.arch, "fmlpipe.task": info.task},
            )
        ref.save(self.ref_path)
        return ref

    def on_round(self, state: RunLog) -> None:
        """Log every round completed since the last logged one, one batch per run."""
        if state.round <= self.logged:
            return
        with store_faults(self.store):
            self._log_rounds(state)

    def _log_rounds(self, state: RunLog) -> None:
        new = range(self.logged + 1, state.round + 1)
        for row in state.client_rows:
            if row[ROUND] in new:
                name = self.clients[int(row[CLIENT])].name
                log_metrics(self.client, self.ref.client_runs[name], _metrics(row, int(row[ROUND]), (ROUND, CLIENT)))
        evaluated = {int(r[ROUND]): r for r in state.history}
        parent: list[Metric] = []
        for row in state.rounds_log:
            if row[ROUND] in new:
                step = int(row[ROUND])
                parent += _metrics({**row, **evaluated.get(step, {})}, step, (ROUND,))
        log_metrics(self.client, self.ref.run_id, parent)
        mark = Metric(ROUND_MARK, float(state.round), int(time.time() * 1000), state.round)
        log_metrics(self.client, self.ref.run_id, [mark])
        self.logged = state.round

    def finish(self, state: RunLog, run_dir: Path) -> None:
        """Attach models and result files once, then close every run as FINISHED."""
        with store_faults(self.store):
            self._finish(run_dir)

    def _finish(self, run_dir: Path) -> None:
        if self.client.get_run(self.ref.run_id).data.tags.get(COMPLETE_TAG) != "true":
            models = run_dir / "models"
            for info in self.clients:
                path = models / f"{info.name}.safetensors"
                if path.is_file():
                    self.client.log_artifact(self.ref.client_runs[info.name], str(path), "model")
            for name in ("history.csv", "rounds.csv", "clients.csv", "metrics.json", "timing.json"):
                self.client.log_artifact(self.ref.run_id, str(run_dir / name), "results")
            self.client.log_artifact(self.ref.run_id, str(models / "architectures.json"), "results")
            if (models / "global.safetensors").is_file():
                self._log_global_model(models / "global.safetensors")
            set_tags(self.client, self.ref.run_id, {COMPLETE_TAG: "true"})
        self._close("FINISHED")

    def _log_global_model(self, path: Path) -> None:
        model = load_model(path)
        shape = tuple(json.loads((path.parent / "architectures.json").read_text())["global"]["input_shape"])
        # A batch of 2, not 1: torch.export would otherwise specialize the model to batch size 1.
        example = np.zeros((2, *shape), dtype=np.float32)
        # The loaded model (a torch.export program) needs torch and MLflow (``model_requirements``).
        requirements = pinned_requirements()
        with fluent_uri(self.store.uri), mlflow.start_run(run_id=self.ref.run_id), modules_of(requirements):
            mlflow.pytorch.log_model(model, name="global_model", input_example=example,
                                     pip_requirements=requirements)

    def fail(self) -> None:
        """Mark the runs FAILED, if the store lets us: the stage is already failing with its own
        error, which a store fault (say, the very lock it failed on) must not replace."""
        with suppress(FmlpipeError), store_faults(self.store):
            self._close("FAILED")

    def _close(self, status: str) -> None:
        for run_id in (*self.ref.client_runs.values(), self.ref.run_id):
            self.client.set_terminated(run_id, status)
