"""What a run records about where it came from: flattened params and provenance tags."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from fmlpipe.machine import describe

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def flatten(params: BaseModel) -> dict[str, str]:
    """``{"federation.optimizer.lr": "0.01", ...}`` from the params objects (aliases used)."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            if not value and prefix:
                out[prefix] = "{}"
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        else:
            out[prefix] = str(value)[:MAX_PARAM_LENGTH]

    walk("", params.model_dump(by_alias=True))
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def provenance_tags(root: Path, env: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Git commit and dirty flag, DVC stage and experiment name, the machine's CPU and PyTorch
    (``fmlpipe.machine``: the same seed gives other bits on another CPU), plus ``extra`` hashes."""
    tags = dict(extra)
    machine = describe()
    tags["fmlpipe.cpu"] = machine["cpu_model"] or "unknown"
    tags["fmlpipe.cpu_flags"] = " ".join(machine["cpu_flags"])
    tags["fmlpipe.torch"] = machine["torch"]
    commit = _git(root, "rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        tags["fmlpipe.git_dirty"] = "true" if status else "false"
    for var, tag in (("DVC_STAGE", "fmlpipe.dvc_stage"), ("DVC_EXP_NAME", "fmlpipe.dvc_experiment")):
        if env.get(var):
            tags[tag] = env[var]
    return tags
