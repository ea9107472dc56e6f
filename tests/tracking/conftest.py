"""A real MLflow tracking server on loopback, shared by the tracking tests that talk HTTP, and a
tiny project trained once with tracking, for the tests that break or move it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tracking.kit import fmlpipe, tracked_project
from tests.tracking.servers import free_port, start, stop


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` over a temporary SQLite store, taking artifacts over HTTP into a
    temporary folder (``mlflow-artifacts:/`` locations); yields its URL."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    # The GenAI job runner is five more processes, and nothing here uses it.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    server = start(cmd, f"{url}/health", root / "server.log", env)
    yield url
    stop(server)



@pytest.fixture(scope="session")
def trained_fml(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny tracked project after ``fmlpipe run-stage train --algorithm fml`` (1 round): its
    outputs, checkpoint, ``mlflow.json`` and store. Tests copy it before changing anything."""
    root = tracked_project(tmp_path_factory.mktemp("trained-fml") / "project", small_data, rounds=1)
    done = fmlpipe(root, "run-stage", "train", "--algorithm", "fml")
    assert done.returncode == 0, done.stderr
    return root
