"""The registry of pipeline stages that ``fmlpipe run-stage`` runs and ``dvc.yaml`` calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fmlpipe.config import Params
from fmlpipe.paths import Paths


@dataclass(frozen=True)
class StageOptions:
    """Stage-specific command-line options (unused ones stay at their defaults)."""

    algorithm: str | None = None
    match: str = "*"  # summarize: the variants whose names match this glob
    out: str = "reports"  # summarize: output folder, relative to the pipeline folder
    reference: str | None = None  # summarize: the variant every other one is set against
    env: Mapping[str, str] = field(default_factory=dict)  # the process environment, read at the CLI


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    run: Callable[[Params, Paths, StageOptions], object]
    # The modules ``run`` imports: where the stage's code fingerprint starts (fmlpipe.codehash);
    # tests/test_stages.py checks they are the runner's imports.
    modules: tuple[str, ...]


def _prepare(params: Params, paths: Paths, _: StageOptions) -> object:
    from fmlpipe.data.prepare import run_prepare

    return run_prepare(params, paths)


def _partition(params: Params, paths: Paths, _: StageOptions) -> object:
    from fmlpipe.partition.stage import run_partition

    return run_partition(params, paths)


def _train(params: Params, paths: Paths, options: StageOptions) -> object:
    from fmlpipe.train.stage import run_train

    return run_train(params, paths, options.algorithm, options.env)


def _evaluate(params: Params, paths: Paths, options: StageOptions) -> object:
    from fmlpipe.evaluate.stage import run_evaluate
    from fmlpipe.tracking.evaluate_logger import log_comparison, open_runs

    runs = open_runs(params, paths, options.env)  # a faulty store stops the stage before reports/ is written
    comparison = run_evaluate(params, paths)
    log_comparison(comparison, runs, paths, options.env)
    return comparison


def _summarize(params: Params, paths: Paths, options: StageOptions) -> object:
    from fmlpipe.summary.stage import run_summarize

    return run_summarize(params, paths, options.match, options.out, options.reference)


# Imports live inside the runners so `fmlpipe stages` and `--help` stay fast (no torch import).
STAGES: dict[str, Stage] = {
    "prepare": Stage(
        "prepare",
        "load and verify the raw dataset, subset it, write data/prepared/{dataset.safetensors,card.json}",
        _prepare,
        ("fmlpipe.data.prepare",),
    ),
    "partition": Stage(
        "partition",
        "split the training set across clients with local test splits, write data/partition/",
        _partition,
        ("fmlpipe.partition.stage",),
    ),
    "train": Stage(
        "train",
        "run one algorithm (--algorithm NAME, a section of `algorithms`), write runs/<algorithm>/",
        _train,
        ("fmlpipe.train.stage",),
    ),
    "evaluate": Stage(
        "evaluate",
        "compare every algorithm's run, write reports/ (metrics.json, comparison.md, CSVs, PNGs)",
        _evaluate,
        ("fmlpipe.evaluate.stage", "fmlpipe.tracking.evaluate_logger"),
    ),
    "summarize": Stage(
        "summarize",
        "pipelines with variants: every variant's runs side by side, seeds pooled, write <pipeline>/reports/summary.*",
        _summarize,
        ("fmlpipe.summary.stage",),
    ),
}
