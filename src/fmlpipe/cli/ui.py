"""``fmlpipe ui``: serve the MLflow UI for the project's tracking store."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from fmlpipe.cli.errors import reported
from fmlpipe.config import load_params
from fmlpipe.errors import FmlpipeError
from fmlpipe.tracking.store import TrackingStore, resolve_store, store_lock


def exposure_warning(host: str) -> str | None:
    """The one-line warning for a bind address other than loopback, else ``None``."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        loopback = False
    if loopback:
        return None
    return f"warning: --host {host} makes the MLflow UI reachable from the network, without authentication"


def check_port(host: str, port: int) -> None:
    """Fail in one line now, rather than in the server's log seconds later, when ``port`` is taken."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        socket.create_server((host, port), family=family).close()  # SO_REUSEADDR, like uvicorn
    except socket.gaierror as exc:
        raise FmlpipeError(f"cannot resolve --host {host}: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FmlpipeError(f"port {port} is already in use on {host}; choose another with --port") from None
        raise FmlpipeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def server_command(store: TrackingStore, host: str, port: int) -> list[str]:
    # One worker: a local UI has one user, and MLflow's default of four is heavy on a laptop.
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", store.uri, "--default-artifact-root", store.artifact_root,
        "--host", host, "--port", str(port), "--workers", "1",
    ]


def open_store(store: TrackingStore) -> None:
    """The first open of a new SQLite store migrates its schema; do it under the project's lock
    so that it cannot race a train stage opening the same store."""
    if store.is_local_sqlite:
        from mlflow import MlflowClient

        with store_lock(store):
            MlflowClient(store.uri).search_experiments(max_results=1)


def url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def ui(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port to serve the UI on.")] = 5000,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; anything but loopback exposes the UI to the network.")
    ] = "127.0.0.1",
    params: Annotated[Path, typer.Option("--params", help="Params file.")] = Path("params.yaml"),
) -> None:
    """Serve the MLflow UI for the project's runs until Ctrl-C."""
    with reported(ctx):
        store = resolve_store(load_params(params).tracking, params.parent)
        if store.uri.startswith(("http://", "https://")):
            raise FmlpipeError(f"the tracking store is already a server: open {store.uri}")
        warning = exposure_warning(host)
        if warning:
            typer.echo(warning, err=True)
        check_port(host, port)
        # SIGTERM (a process manager, `kill`) stops the server the way Ctrl-C does. SIGINT is set
        # too: a shell script's background jobs start with it ignored, and Python then leaves it so.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        server = None
        try:
            open_store(store)
            # MLflow's GenAI job runner (a consumer with five workers) serves nothing this UI shows.
            env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
            # Its own session, so that Ctrl-C reaches only us and we stop it with SIGTERM: on
            # SIGINT uvicorn logs a KeyboardInterrupt traceback on its way out.
            server = subprocess.Popen(server_command(store, host, port), env=env, start_new_session=True)
            typer.echo(f"MLflow UI for {store.uri} at {url(host, port)} (Ctrl-C stops it)")
            code = server.wait()
        except KeyboardInterrupt:
            if server is not None:
                stop(server)
            return
        raise FmlpipeError(f"mlflow server stopped with exit code {code}; its output is above")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> int:
    """Send ``sig`` to the process group of ``process`` (started in a session of its own), wait
    up to ``timeout`` seconds, then kill what is left. Returns the exit code of ``process``."""
    signal_group(process.pid, sig)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        code = -signal.SIGKILL
    signal_group(process.pid, signal.SIGKILL)  # also workers that outlived their parent
    process.wait()
    return code


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited already
        os.killpg(pid, sig)
