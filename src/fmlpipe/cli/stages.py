"""``fmlpipe stages``: list the pipeline stages, one line each."""

from __future__ import annotations

import typer

from fmlpipe.stages import STAGES


def list_stages() -> None:
    """List the pipeline stages."""
    width = max(len(name) for name in STAGES)
    for stage in STAGES.values():
        typer.echo(f"{stage.name:<{width}}  {stage.summary}")
