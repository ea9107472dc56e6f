"""``fmlpipe ui`` up to the point where it starts the server: the network warning, a taken
port, and the command it runs for each kind of store."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fmlpipe.cli import app
from fmlpipe.cli.ui import exposure_warning, server_command
from fmlpipe.tracking.store import TrackingStore
from tests.conftest import REPO

runner = CliRunner()
WARNING = "warning: --host 0.0.0.0 makes the MLflow UI reachable from the network, without authentication"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_is_quiet(host: str) -> None:
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "box.lan"])
def test_anything_else_warns_in_one_line(host: str) -> None:
    assert exposure_warning(host) == (
        f"warning: --host {host} makes the MLflow UI reachable from the network, without authentication"
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _ui(monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return runner.invoke(app, ["ui", "--params", str(REPO / "params.yaml"), *args])


def test_taken_port_is_one_line_and_exit_1(taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _ui(monkeypatch, "--port", str(taken_port))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: port {taken_port} is already in use on 127.0.0.1; choose another with --port"
    ]
    assert result.stdout == ""


def test_other_hosts_warn_before_anything_else(taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _ui(monkeypatch, "--port", str(taken_port), "--host", "0.0.0.0")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        WARNING, f"error: port {taken_port} is already in use on 0.0.0.0; choose another with --port"
    ]


def test_a_tracking_server_is_not_served_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    result = runner.invoke(app, ["ui", "--params", str(REPO / "params.yaml")])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["error: the tracking store is already a server: open http://127.0.0.1:9"]


@pytest.mark.parametrize("uri", ["sqlite:////p/mlflow.db", "postgresql://u@db/mlflow", "file:///p/mlruns"])
def test_the_store_is_served_as_given_with_the_project_artifact_root(uri: str) -> None:
    store = TrackingStore(uri, "file:///p/mlartifacts", "fmlpipe", Path("/p"))
    assert server_command(store, "127.0.0.1", 5001) == [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri, "--default-artifact-root", "file:///p/mlartifacts",
        "--host", "127.0.0.1", "--port", "5001", "--workers", "1",
    ]
