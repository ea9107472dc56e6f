"""Helpers for the tests that run the real ``fmlpipe`` CLI against a tiny tracked project."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import cli_env, write_project

EXPERIMENT = "faults"
ONLY_FML = ("algorithms.fedavg", "algorithms.fedprox", "algorithms.local")  # evaluate compares fml alone


def tracked_project(root: Path, small_data: Path, rounds: int) -> Path:
    """The small setup with tracking on and only FML configured, its own project root (so its
    store is ``root/mlflow.db``)."""
    root.mkdir(parents=True, exist_ok=True)
    write_project(root, small_data, {"tracking.enabled": True, "tracking.experiment": EXPERIMENT,
                                     "federation.rounds": rounds}, drop=ONLY_FML)
    (root / ".dvc").mkdir()
    return root


def fmlpipe(root: Path, *args: str, prefix: tuple[str, ...] = ("-m", "fmlpipe")) -> subprocess.CompletedProcess[str]:
    """``fmlpipe ARGS`` run in ``root`` as its own process (``prefix`` swaps the entry point)."""
    return subprocess.run([sys.executable, *prefix, *args], cwd=root, env=cli_env(),
                          capture_output=True, text=True, timeout=600)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed stage: the last line on stderr, no traceback, exit code 1."""
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert done.returncode == 1, done.stderr
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return errors[0]


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the first-open lock file (created empty)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".mlflow.lock"}


def copy_project(src: Path, dest: Path, *leave_out: str) -> Path:
    """A copy of a project folder, without the top-level entries named in ``leave_out``."""
    def ignored(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if Path(folder) == src and n in leave_out]

    shutil.copytree(src, dest, ignore=ignored)
    return dest
