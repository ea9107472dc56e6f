"""Judge every committed run's training again under other convergence windows.

Usage (from the repository root):
    python benchmarks/convergence_windows.py [--windows 3,5,10] [--list]

For each pipeline (the root one, then pipelines/*), reads every run's `rounds.csv` and judges it
with the check the evaluate stage uses (src/fmlpipe/stats/convergence.py) under each window, with
the pipeline's own tolerance. Prints how many runs fail the check per window;
`--list` names the runs whose verdict depends on the window. Nothing is trained or written.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from fmlpipe.config import load_params
from fmlpipe.evaluate.convergence import training_convergence
from fmlpipe.stats.convergence import all_converged


def _pipelines(root: Path) -> list[tuple[str, Path, list[Path]]]:
    found = [("default", root / "params.yaml", sorted(root.glob("runs/*/rounds.csv")))]
    for params in sorted(root.glob("pipelines/*/params.yaml")):
        found.append((params.parent.name, params, sorted(params.parent.glob("*/runs/*/rounds.csv"))))
    return [(name, params, runs) for name, params, runs in found if runs]


def _judge(rounds_csv: Path, params_file: Path, window: int) -> bool:
    with open(rounds_csv, newline="") as fh:
        rows: list[dict[str, float | int]] = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    convergence = load_params(params_file).convergence.model_copy(update={"window": window})
    return all_converged(training_convergence(rows, convergence))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="3,5,10", help="comma-separated windows, in rounds")
    parser.add_argument("--list", action="store_true", help="name the runs whose verdict depends on the window")
    args = parser.parse_args()
    windows = [int(w) for w in args.windows.split(",")]
    root = Path.cwd()
    print(f"{'pipeline':<10} {'runs':>5} " + " ".join(f"{'w=' + str(w):>6}" for w in windows) + "   (runs that fail)")
    for name, params, runs in _pipelines(root):
        verdicts = {run: [_judge(run, params, w) for w in windows] for run in runs}
        failed = [sum(not v[i] for v in verdicts.values()) for i in range(len(windows))]
        print(f"{name:<10} {len(runs):>5} " + " ".join(f"{n:>6}" for n in failed))
        if args.list:
            for run, v in verdicts.items():
                if len(set(v)) > 1:
                    marks = " ".join("ok" if ok else "FAIL" for ok in v)
                    print(f"    {run.relative_to(root).parent}: {marks}")


if __name__ == "__main__":
    main()
