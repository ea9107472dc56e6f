"""The ``evaluate`` stage: every configured algorithm's run in, ``reports/`` out.

All inputs are read and checked, and every output (JSON, Markdown, CSV, PNG) is rendered in
memory, before the first file is written; each file is then written atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fmlpipe.config import Params
from fmlpipe.evaluate.compare import AlgorithmSummary, Verdict, verdicts
from fmlpipe.evaluate.figures import accuracy_by_round_png, client_accuracy_png
from fmlpipe.evaluate.reports import ReportPaths
from fmlpipe.evaluate.runs import load_runs
from fmlpipe.evaluate.setting import load_setting
from fmlpipe.evaluate.table import (
    accuracy_by_round_csv,
    best,
    client_accuracy_csv,
    markdown,
    metrics_json,
)
from fmlpipe.fl.algorithms import configured
from fmlpipe.io import atomic_path, write_json, write_text
from fmlpipe.paths import Paths


@dataclass(frozen=True)
class Comparison:
    """What the stage found and wrote: a caller can log the summaries and files to a tracker."""

    summaries: tuple[AlgorithmSummary, ...]
    verdicts: tuple[Verdict, ...]  # FML against each baseline, clients paired
    best_personalized: tuple[str, ...]  # the algorithms with the highest mean personalized accuracy
    best_global: tuple[str, ...]  # the highest global-model test accuracy; () if none has a global model
    reports: ReportPaths
    files: tuple[Path, ...]  # every file written, in writing order

    def flat_metrics(self) -> dict[str, float]:
        """``{"<algorithm>.<metric>": value}`` of the numeric values (absent ones left out; a bool
        as 0 or 1)."""
        return {f"{s.algorithm}.{key}": float(value) for s in self.summaries
                for key, value in s.to_dict().items() if isinstance(value, int | float)}


def configured_algorithms(params: Params) -> tuple[str, ...]:
    """The sections present under ``algorithms``, in the params file's order (each validated)."""
    return tuple(configured(params))


def run_evaluate(params: Params, paths: Paths) -> Comparison:
    """Compare the runs of every algorithm in ``params.algorithms``; write ``reports/``."""
    runs = load_runs(paths, configured_algorithms(params), params.convergence)
    setting = load_setting(params, paths, runs)
    summaries = tuple(AlgorithmSummary.of(run) for run in runs)
    found = verdicts(runs)
    reports = ReportPaths(paths.root)
    metrics = metrics_json(summaries, found)
    texts = {
        reports.comparison: markdown(setting, summaries, found),
        reports.accuracy_by_round_csv: accuracy_by_round_csv(runs),
        reports.client_accuracy_csv: client_accuracy_csv(runs),
    }
    images = {
        reports.accuracy_by_round_png: accuracy_by_round_png(runs),
        reports.client_accuracy_png: client_accuracy_png(runs),
    }

    write_json(reports.metrics, metrics)
    for path, text in texts.items():
        write_text(path, text)
    for path, png in images.items():
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
    return Comparison(
        summaries=summaries,
        verdicts=tuple(found),
        best_personalized=best(summaries, "acc_personalized_mean"),
        best_global=best(summaries, "acc_global_test"),
        reports=reports,
        files=(reports.metrics, *texts, *images),
    )
