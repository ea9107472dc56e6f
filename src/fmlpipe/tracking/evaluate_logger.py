"""What ``evaluate`` adds to each algorithm's MLflow run (found through the run id the train
stage wrote to ``runs/<algorithm>/mlflow.json``): the comparison's numbers as ``compare.*``
metrics, and the table and figures as artifacts under ``comparison/``."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from fmlpipe.config import Params
from fmlpipe.evaluate.stage import Comparison, configured_algorithms
from fmlpipe.paths import Paths
from fmlpipe.tracking.faults import opened, store_faults
from fmlpipe.tracking.runs import RunRef, live_run
from fmlpipe.tracking.store import TrackingStore, resolve_store


@dataclass(frozen=True)
class TrackedRuns:
    """The runs ``evaluate`` logs into, all in the store the stage is configured for."""

    store: TrackingStore | None = None
    client: MlflowClient | None = None
    run_ids: dict[str, str] = field(default_factory=dict)  # algorithm -> its train stage's run


def open_runs(params: Params, paths: Paths, env: Mapping[str, str]) -> TrackedRuns:
    """Find each algorithm's run and check its store, before the stage writes anything. A
    reference to another store (an old absolute path from before the project moved) or to a
    run this store lacks (a clone without the store) is skipped with a warning: logging there
    would write into another project's store, or fail."""
    if not params.tracking.enabled:
        return TrackedRuns()
    store = resolve_store(params.tracking, paths.root, env)
    refs: dict[str, tuple[Path, RunRef]] = {}
    for algorithm in configured_algorithms(params):
        path = paths.run_dir(algorithm) / "mlflow.json"
        ref = RunRef.load(path)
        if ref is None:
            continue
        if store.owns(ref.tracking_uri):
            refs[algorithm] = (path, ref)
        else:
            _skip(path, algorithm, f"names another tracking store ({ref.tracking_uri})")
    if not refs:
        return TrackedRuns()
    with opened(store) as client:
        run_ids = {}
        for algorithm, (path, ref) in refs.items():
            if live_run(client, ref.run_id):
                run_ids[algorithm] = ref.run_id
            else:
                _skip(path, algorithm, f"names run {ref.run_id}, which tracking store {store.location} lacks")
    return TrackedRuns(store, client, run_ids)


def _skip(path: Path, algorithm: str, why: str) -> None:
    print(f"warning: {path} {why}: the comparison is not logged for {algorithm} (run train "
          f"--algorithm {algorithm} to record its run in this project's store)", file=sys.stderr)


def log_comparison(comparison: Comparison, runs: TrackedRuns, paths: Paths, env: Mapping[str, str]) -> list[str]:
    """Log into every run of ``runs``; returns the run ids logged to."""
    if runs.store is None or runs.client is None:
        return []
    now = int(time.time() * 1000)
    metrics = comparison.flat_metrics()
    files = [*comparison.files, paths.partition_heatmap]
    logged = []
    with store_faults(runs.store):
        for summary in comparison.summaries:
            run_id = runs.run_ids.get(summary.algorithm)
            if run_id is None:
                continue
            tags = [RunTag("fmlpipe.dvc_experiment", env["DVC_EXP_NAME"])] if env.get("DVC_EXP_NAME") else []
            runs.client.log_batch(run_id, metrics=[Metric(f"compare.{k}", v, now, summary.rounds)
                                                   for k, v in metrics.items()], tags=tags, synchronous=True)
            for path in files:
                if Path(path).is_file() and Path(path).suffix in (".md", ".png", ".json", ".csv"):
                    runs.client.log_artifact(run_id, str(path), "comparison")
            logged.append(run_id)
    return logged
