"""Helpers for the end-to-end tests: a temporary git copy of the repository with shrunk params,
and DVC commands run in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection
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


def copy_repo(dest: Path, shrink: dict[str, Callable[[dict[str, Any]], None]], pipelines: Collection[str] = ()) -> Path:
    """The repository's files (tests excluded) in ``dest``, committed in a fresh git repo, with
    each params file named in ``shrink`` edited by its function first. Of ``pipelines/``, only the
    folders named in ``pipelines`` come along: DVC reads every dvc.yaml, dvc.lock and params file
    in a repo on each command (about 20,000 lines of YAML for the shipped pipelines, 3 s a command
    here), and a test of one pipeline needs none of the others. The whole repo's DVC graph is
    checked in tests/config/test_dvc_graph.py."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    kept = tuple(f"pipelines/{name}/" for name in pipelines)
    for name in files:
        other_pipeline = name.startswith("pipelines/") and not name.startswith(kept)
        if (REPO / name).is_file() and not name.startswith("tests/") and not other_pipeline:
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
