"""Measure what MLflow logging costs a train stage: the same run with tracking off and on.

Usage (from a project whose `prepare` and `partition` stages have run):
    python benchmarks/tracking_overhead.py [--params params.yaml] [--algorithm fml] [--rounds 3]

Prints wall seconds for both runs and the overhead ratio, measured in this one process.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from fmlpipe.config import load_params
from fmlpipe.paths import Paths
from fmlpipe.train.stage import run_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--algorithm", default="fml")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    params = load_params(args.params)
    # One engine throughout (no compile warm-up in one arm only), each arm run twice, alternating;
    # the faster of each arm's two runs is compared.
    params = params.model_copy(update={"federation": params.federation.model_copy(
        update={"rounds": args.rounds, "engine": "sequential"})})
    source = Paths(args.params.parent)
    seconds: dict[bool, float] = {}
    for enabled in (False, True, False, True):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(source.root / "data", Path(tmp) / "data")
            run = params.model_copy(update={"tracking": params.tracking.model_copy(
                update={"enabled": enabled, "uri": f"sqlite:///{tmp}/mlflow.db", "experiment": "overhead"})})
            if enabled:  # MLflow's one-time schema migration is not per-run logging cost
                from mlflow import MlflowClient
                MlflowClient(run.tracking.uri).search_experiments()
            start = time.perf_counter()
            run_train(run, Paths(Path(tmp)), args.algorithm, {})
            seconds[enabled] = min(seconds.get(enabled, float("inf")), time.perf_counter() - start)
    off, on = seconds[False], seconds[True]
    print(f"algorithm={args.algorithm} rounds={args.rounds} clients={params.partition.num_clients}")
    print(f"tracking off: {off:.2f} s   tracking on: {on:.2f} s   overhead: {on - off:.2f} s ({(on - off) / off:.1%})")


if __name__ == "__main__":
    main()
