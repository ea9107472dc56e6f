"""Turn :class:`FmlpipeError` into a one-line message and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from fmlpipe.errors import FmlpipeError


@contextmanager
def reported(ctx: typer.Context) -> Iterator[None]:
    """Show user-facing errors as ``error: ...`` on stderr; re-raise them with ``--debug``."""
    try:
        yield
    except FmlpipeError as exc:
        if (ctx.obj or {}).get("debug"):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
