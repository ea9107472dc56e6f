"""``fmlpipe run-stage STAGE``: run one pipeline stage with the project's params."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fmlpipe.cli.errors import reported
from fmlpipe.config import load_params
from fmlpipe.errors import ParamsError
from fmlpipe.paths import Paths
from fmlpipe.stages import STAGES, StageOptions


def run_stage(
    ctx: typer.Context,
    stage: Annotated[str, typer.Argument(help="Stage to run; `fmlpipe stages` lists them.")],
    params: Annotated[Path, typer.Option("--params", help="Params file.")] = Path("params.yaml"),
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="train: which algorithm section to run.")
    ] = None,
    variant: Annotated[
        str | None, typer.Option("--variant", help="Apply this entry of `variants` in the params file and "
                                                   "read and write under <params dir>/<variant>/.")
    ] = None,
    match: Annotated[str, typer.Option("--match", help="summarize: only the variants whose names match this "
                                                       "glob (e.g. 'fmnist_*').")] = "*",
    out: Annotated[str, typer.Option("--out", help="summarize: output folder, relative to the params file's "
                                                   "folder.")] = "reports",
    reference: Annotated[
        str | None, typer.Option("--reference", help="summarize: set every variant against this one (its name "
                                                     "without the _s<k> seed suffix, e.g. 'base').")
    ] = None,
) -> None:
    """Run one pipeline stage (what `dvc repro` calls)."""
    with reported(ctx):
        if stage not in STAGES:
            raise ParamsError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
        parsed = load_params(params, variant)
        options = StageOptions(algorithm=algorithm, match=match, out=out, reference=reference, env=dict(os.environ))
        STAGES[stage].run(parsed, Paths.of(params, variant), options)
