"""Time what a train stage costs before and after its training: a tiny stage, whole process.

Usage (from the repository root):
    python benchmarks/stage_fixed_cost.py [--repeats 5] [--algorithm fml] [--set federation.rounds=1 ...]

Builds a scratch project from params.yaml made tiny (5% of the data, 10 clients, the mlp, one
round; ``--set`` changes more, dotted keys with YAML values), runs its prepare and partition
stages once, then times ``fmlpipe run-stage train`` as a new process in three arms, in turns:
tracking off; tracking on, into a store that already exists (every stage of a pipeline after
the first); tracking on, into a new store (MLflow creates and migrates its schema first). Prints
each arm's minimum, median and maximum wall seconds, and the medians' differences: what tracking
adds to a stage, and what a new store adds to that. Nothing in the repository is written.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from fmlpipe.config.variants import parse_assignments, set_dotted
from fmlpipe.errors import ParamsError

TINY = {"data.train_fraction": 0.05, "partition.num_clients": 10, "models.global": "mlp", "models.local": "mlp",
        "federation.rounds": 1, "federation.eval_every": 1}
ARMS = ("off", "existing store", "new store")


def _stage(folder: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fmlpipe", "run-stage", *args], cwd=folder,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"fmlpipe run-stage {' '.join(args)} in {folder} failed:\n{done.stderr.strip()}")
    return seconds


def _project(folder: Path, raw: dict[str, object], tracking: bool) -> Path:
    folder.mkdir()
    (folder / ".dvc").mkdir()  # the project root: the store goes here
    raw = {**raw, "tracking": {**raw["tracking"], "enabled": tracking, "uri": None}}  # type: ignore[dict-item]
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--algorithm", default="fml")
    parser.add_argument("--set", action="append", default=[], dest="changes", help="dotted.key=value (repeatable)")
    args = parser.parse_args()
    if args.repeats < 1:
        sys.exit(f"--repeats: {args.repeats} is not a positive number of runs")
    raw = yaml.safe_load(Path("params.yaml").read_text())
    try:
        changes = {**TINY, **parse_assignments(args.changes, "--set")}
        for key, value in changes.items():
            set_dotted(raw, key, value, f"--set {key}")
    except ParamsError as exc:
        sys.exit(str(exc))
    with tempfile.TemporaryDirectory(prefix="stage-cost-") as tmp:
        folders = {arm: _project(Path(tmp) / arm.replace(" ", "-"), raw, arm != "off") for arm in ARMS}
        first = folders["off"]
        _stage(first, "prepare")
        _stage(first, "partition")
        for folder in list(folders.values())[1:]:
            shutil.copytree(first / "data", folder / "data")
        _stage(folders["existing store"], "train", "--algorithm", args.algorithm)  # creates its store
        seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for _ in range(args.repeats):
            for arm, folder in folders.items():
                shutil.rmtree(folder / "runs", ignore_errors=True)
                if arm == "new store":
                    (folder / "mlflow.db").unlink(missing_ok=True)
                    shutil.rmtree(folder / "mlartifacts", ignore_errors=True)
                seconds[arm].append(_stage(folder, "train", "--algorithm", args.algorithm))
    print(f"train@{args.algorithm}, {', '.join(f'{k}={v}' for k, v in changes.items())}; "
          f"{args.repeats} runs per arm, in turns; wall seconds of the whole process")
    print(f"{'tracking':<16}{'min':>8}{'median':>8}{'max':>8}")
    medians = {}
    for arm, values in seconds.items():
        medians[arm] = statistics.median(values)
        print(f"{arm:<16}{min(values):>8.2f}{medians[arm]:>8.2f}{max(values):>8.2f}")
    print(f"tracking adds {medians['existing store'] - medians['off']:.2f} s a stage (medians); "
          f"a new store {medians['new store'] - medians['existing store']:.2f} s more")


if __name__ == "__main__":
    main()
