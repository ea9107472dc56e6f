"""Turn user-facing failures into a one-line message and an exit code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from fmlpipe.errors import FmlpipeError


def describe_os_error(exc: OSError) -> str:
    """``cannot write 'runs/fml': Permission denied`` style: the path and the system's reason."""
    where = f" '{exc.filename}'" if exc.filename else ""
    return f"cannot access{where}: {exc.strerror or exc} (check the path and its permissions)"


@contextmanager
def reported(ctx: typer.Context) -> Iterator[None]:
    """Show user-facing errors as ``error: ...`` on stderr; re-raise them with ``--debug``.

    File-system errors (a folder that cannot be created, a full disk) are the user's to fix
    too, so they get the same one-line treatment.
    """
    debug = (ctx.obj or {}).get("debug")
    try:
        yield
    except FmlpipeError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:
        if debug:
            raise
        typer.echo(f"error: {describe_os_error(exc)}", err=True)
        raise typer.Exit(1) from None
