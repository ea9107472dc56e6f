"""``fmlpipe code-fingerprint``: write each stage's code fingerprint, the file its DVC stage depends on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fmlpipe.cli.errors import reported


def code_fingerprint(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the <stage>.sha256 files.")] = Path("code"),
) -> None:
    """Write <out>/<stage>.sha256 for every stage: the hash of the code it runs, module by module."""
    with reported(ctx):
        # Imported here, not at the top: this command's code stays out of every stage's
        # fingerprint (see fmlpipe.codehash.DISPATCHERS), and --help stays fast.
        from fmlpipe.codehash import stage_fingerprints
        from fmlpipe.io import write_text
        from fmlpipe.stages import STAGES

        for name, fingerprint in stage_fingerprints({n: s.modules for n, s in STAGES.items()}).items():
            path, text = out / f"{name}.sha256", fingerprint.text()
            # Unchanged files keep their mtime, so DVC need not hash them again.
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                write_text(path, text)
                typer.echo(f"{path}: {fingerprint.combined[:12]}")
