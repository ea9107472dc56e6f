"""What ``evaluate`` adds to each algorithm's MLflow run (found through the run id the train
stage wrote to ``runs/<algorithm>/mlflow.json``): the comparison's numbers as ``compare.*``
metrics, and the table and figures as artifacts under ``comparison/``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from fmlpipe.config import Params
from fmlpipe.evaluate.stage import Comparison
from fmlpipe.paths import Paths
from fmlpipe.tracking.runs import RunRef, check_reachable


def log_comparison(comparison: Comparison, params: Params, paths: Paths, env: Mapping[str, str]) -> list[str]:
    """Log into every algorithm run that has a run reference; returns the run ids logged to."""
    if not params.tracking.enabled:
        return []
    now = int(time.time() * 1000)
    metrics = comparison.flat_metrics()
    files = [*comparison.files, paths.partition_heatmap]
    logged = []
    for summary in comparison.summaries:
        ref = RunRef.load(paths.run_dir(summary.algorithm) / "mlflow.json")
        if ref is None:
            continue
        check_reachable(ref.tracking_uri)
        client = MlflowClient(ref.tracking_uri)
        tags = [RunTag("fmlpipe.dvc_experiment", env["DVC_EXP_NAME"])] if env.get("DVC_EXP_NAME") else []
        client.log_batch(ref.run_id, metrics=[Metric(f"compare.{k}", v, now, summary.rounds)
                                              for k, v in metrics.items()], tags=tags, synchronous=True)
        for path in files:
            if Path(path).is_file() and Path(path).suffix in (".md", ".png", ".json", ".csv"):
                client.log_artifact(ref.run_id, str(path), "comparison")
        logged.append(ref.run_id)
    return logged
