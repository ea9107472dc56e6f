"""What ``evaluate`` adds to each algorithm's MLflow run (found through the run id the train
stage wrote to ``runs/<algorithm>/mlflow.json``): the comparison's numbers as ``compare.*``
metrics, and the table and figures as artifacts under ``comparison/``."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from fmlpipe.config import Params
from fmlpipe.evaluate.stage import Comparison
from fmlpipe.paths import Paths
from fmlpipe.tracking.runs import RunRef, check_reachable, live_run
from fmlpipe.tracking.store import resolve_store


def log_comparison(comparison: Comparison, params: Params, paths: Paths, env: Mapping[str, str]) -> list[str]:
    """Log into every algorithm run that has a run reference in this project's store; returns
    the run ids logged to. A reference to another store (an old absolute path from before the
    project moved) or to a run this store lacks (a clone without the store) is skipped with a
    warning: logging there would write into another project's store, or fail."""
    if not params.tracking.enabled:
        return []
    store = resolve_store(params.tracking, paths.root, env)
    now = int(time.time() * 1000)
    metrics = comparison.flat_metrics()
    files = [*comparison.files, paths.partition_heatmap]
    logged = []
    for summary in comparison.summaries:
        ref_path = paths.run_dir(summary.algorithm) / "mlflow.json"
        ref = RunRef.load(ref_path)
        if ref is None:
            continue
        if not store.owns(ref.tracking_uri):
            _skip(ref_path, summary.algorithm, f"names another tracking store ({ref.tracking_uri})")
            continue
        check_reachable(store.uri)
        client = MlflowClient(store.uri)
        if not live_run(client, ref.run_id):
            _skip(ref_path, summary.algorithm, f"names run {ref.run_id}, which tracking store {store.uri} lacks")
            continue
        tags = [RunTag("fmlpipe.dvc_experiment", env["DVC_EXP_NAME"])] if env.get("DVC_EXP_NAME") else []
        client.log_batch(ref.run_id, metrics=[Metric(f"compare.{k}", v, now, summary.rounds)
                                              for k, v in metrics.items()], tags=tags, synchronous=True)
        for path in files:
            if Path(path).is_file() and Path(path).suffix in (".md", ".png", ".json", ".csv"):
                client.log_artifact(ref.run_id, str(path), "comparison")
        logged.append(ref.run_id)
    return logged


def _skip(path: Path, algorithm: str, why: str) -> None:
    print(f"warning: {path} {why}: the comparison is not logged for {algorithm} (run train "
          f"--algorithm {algorithm} to record its run in this project's store)", file=sys.stderr)
