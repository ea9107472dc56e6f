"""Helpers for the end-to-end tests: a temporary git copy of the repository with shrunk params,
and DVC commands run in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO


def run(cmd: list[str], cwd: Path) -> str:
    """Run ``cmd`` with this venv's tools first on PATH; its output, or a failed assertion with it."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def ran(output: str) -> list[str]:
    """The stages DVC ran, in order (a pipeline's own file prefix, ``pipelines/x/dvc.yaml:``, dropped)."""
    return [name.rsplit(":", 1)[-1] for name in re.findall(r"Running stage '([^']+)'", output)]


def copy_repo(dest: Path, shrink: dict[str, Callable[[dict[str, Any]], None]]) -> Path:
    """The repository's files (tests excluded) in ``dest``, committed in a fresh git repo, with
    each params file named in ``shrink`` edited by its function first."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file() and not name.startswith("tests/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    for name, edit in shrink.items():
        params = yaml.safe_load((dest / name).read_text())
        edit(params)
        (dest / name).write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "config", "user.name", "fmlpipe test"],
                ["git", "config", "user.email", "test@fmlpipe.invalid"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "copy"]):
        run(cmd, dest)
    return dest
