"""Try a training budget on a few runs of a variant pipeline before paying for all of them.

Usage (from the repository root):
    python benchmarks/pfl_budget.py --runs shards_s2:fedrep,dir05_s1:ditto \
        --set federation.rounds=80 --set data.train_fraction=0.04 [--pipeline pipelines/pfl] [--keep DIR]

Copies the pipeline's params.yaml into a scratch folder with the ``--set`` values (dotted keys,
YAML values) and tracking off, then runs ``fmlpipe run-stage`` prepare, partition and train for
each named ``variant:algorithm``, one after another, as the pipeline's stages would. Prints, per
run, the seconds per training round (``timing.json``), the final mean personalized accuracy and
the convergence verdict of the evaluate stage's check under the pipeline's ``convergence``
params. Nothing in the repository is written; ``--keep`` keeps the scratch folder.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from fmlpipe.config import load_params
from fmlpipe.config.variants import parse_assignments, set_dotted
from fmlpipe.errors import ParamsError
from fmlpipe.evaluate.runs import load_run
from fmlpipe.paths import Paths


def _stage(folder: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "fmlpipe", "run-stage", *args], cwd=folder,
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"fmlpipe run-stage {' '.join(args)} failed:\n{done.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=Path("pipelines/pfl"))
    parser.add_argument("--runs", required=True, help="comma-separated variant:algorithm pairs")
    parser.add_argument("--set", action="append", default=[], dest="changes", help="dotted.key=value (repeatable)")
    parser.add_argument("--keep", type=Path, help="keep the scratch folder here (must not exist)")
    args = parser.parse_args()
    runs = [pair.split(":", 1) for pair in args.runs.split(",")]
    bad = next((",".join(run) for run in runs if len(run) != 2 or not all(run)), None)
    if bad is not None:
        sys.exit(f"--runs: {bad!r} is not variant:algorithm (e.g. shards_s2:fedrep)")
    raw = yaml.safe_load((args.pipeline / "params.yaml").read_text())
    try:
        for key, value in parse_assignments(args.changes, "--set").items():
            set_dotted(raw, key, value, f"--set {key}")
    except ParamsError as exc:
        sys.exit(str(exc))
    raw["tracking"]["enabled"] = False
    folder = args.keep or Path(tempfile.mkdtemp(prefix="pfl-budget-"))
    folder.mkdir(parents=True, exist_ok=args.keep is None)
    (folder / ".dvc").mkdir()  # the project root: data/ and runs/ resolve here
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    convergence = load_params(folder / "params.yaml").convergence
    print(f"{args.pipeline} with {' '.join(args.changes) or 'its own params'}")
    try:
        prepared: set[str] = set()
        for variant, algorithm in runs:
            if variant not in prepared:
                _stage(folder, "prepare", "--variant", variant)
                _stage(folder, "partition", "--variant", variant)
                prepared.add(variant)
            _stage(folder, "train", "--variant", variant, "--algorithm", algorithm)
            run = load_run(Paths.of(folder / "params.yaml", variant), algorithm, convergence)  # as evaluate reads it
            print(f"{variant:<10} {algorithm:<10} {run.timing.seconds_per_round:6.2f} s/round  "
                  f"personalized {100 * run.personalized.mean:5.1f}%  {run.convergence}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
