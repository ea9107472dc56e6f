"""The ``fmlpipe`` command line: one module per command, registered on one Typer app."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from fmlpipe import __version__
from fmlpipe.cli import bench, code_fingerprint, run_stage, stages, ui

app = typer.Typer(
    name="fmlpipe",
    help="Reproducible Federated Mutual Learning experiments: DVC stages, MLflow tracking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fmlpipe {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Reproducible Federated Mutual Learning experiments."""
    ctx.obj = {"debug": debug}
    if not debug:
        # MLflow's INFO lines (schema migrations) are noise between our own messages. Set before
        # mlflow is imported (it configures its loggers at import); a user's own setting wins.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


app.command("run-stage")(run_stage.run_stage)
app.command("stages")(stages.list_stages)
app.command("ui")(ui.ui)
app.command("bench")(bench.bench)
app.command("code-fingerprint")(code_fingerprint.code_fingerprint)


def main() -> None:
    app()
