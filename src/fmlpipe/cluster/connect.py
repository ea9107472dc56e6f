"""Start or join a Ray cluster, with every failure to do so reported in one line.

Without an address (``execution.address: null`` and no ``RAY_ADDRESS``) a private local Ray
instance starts on this machine, bound to 127.0.0.1 (Ray otherwise binds the host's network
interface), with authentication off, since nothing outside this machine can reach it. With an
address the cluster there is joined as it was started (``ray start --head``); a loopback address
keeps Ray on loopback too. Ray waits about 14 minutes for an address where nothing answers:
a plain TCP connection is tried first, and Ray's own retries are bounded.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from fmlpipe.errors import FmlpipeError, ParamsError

# Ray's connection attempts, bounded to about 10 s (its defaults retry for minutes).
BOUNDS = {
    "RAY_py_gcs_connect_timeout_s": "5",
    "RAY_gcs_rpc_server_connect_timeout_s": "2",
}
# Joining an address: Ray's Python side tries its GCS about once a second, this many times
# (default 20). The same variable is also how long a local start waits for its new GCS to
# publish its port (default 30 s), so it is set around joining alone: at 1 s a local start
# failed once on this project's 2-core machine ("Timed out waiting for file .../gcs_server_port").
JOIN_TRIES = {"RAY_gcs_server_port_wait_time_s": "1"}
QUIET = {"RAY_USAGE_STATS_ENABLED": "0"}
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # keep 127.0.0.1 as the node address
TCP_TIMEOUT = 3.0


@dataclass(frozen=True)
class Connection:
    """Where the workers run; ``owned`` when this call connected (so :func:`disconnect` lets
    go: a local instance stops, a joined cluster stays), False when the process already was."""

    address: str
    owned: bool


def resolve_address(address: str | None, env: Mapping[str, str]) -> str | None:
    """``execution.address``, else ``RAY_ADDRESS``, else None (a local instance)."""
    return address or env.get("RAY_ADDRESS") or None


def parse(address: str) -> tuple[str, int]:
    """``host:port``, or a one-line error naming the key and the form it takes."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ParamsError(f"execution.address={address!r} is not host:port (e.g. 127.0.0.1:6379, the address "
                          "`ray start --head` prints), or null to start a local Ray instance")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _setdefault(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def _unless_set(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in the environment for the body, where the user has not set them."""
    added = [key for key in values if key not in os.environ]
    os.environ.update({key: values[key] for key in added})
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """Ray's C++ layer writes its connection warnings straight to file descriptor 2."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def connect(address: str | None, cpus: float, gpus: float, env: Mapping[str, str]) -> Connection:
    """Join the cluster at ``address`` (``RAY_ADDRESS`` when None), or start a local instance
    with ``cpus`` CPUs and ``gpus`` GPUs. Reuses a connection this process already holds."""
    _setdefault({**QUIET, **BOUNDS})  # before the import: Ray's C++ layer reads them there
    import ray  # here, not at the top: it is a second the other backends need not pay

    target = resolve_address(address, env)
    if ray.is_initialized():
        return Connection(ray.get_runtime_context().gcs_address, owned=False)
    from ray._raylet import Config  # type: ignore[attr-defined]  # Ray's C++ config, untyped

    Config.initialize("")  # re-read the bounds, in case Ray was imported before they were set
    if target is None:
        _setdefault({**LOOPBACK, "RAY_AUTH_MODE": "disabled"})
        _apply_loopback()
        ray.init(address="local", num_cpus=int(cpus) or 1, num_gpus=math.ceil(gpus), include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
        return Connection(ray.get_runtime_context().gcs_address, owned=True)
    host, port = parse(target)
    try:
        with socket.create_connection((host, port), timeout=TCP_TIMEOUT):
            pass
    except OSError as exc:
        raise FmlpipeError(f"no Ray cluster answers at {target} ({exc.strerror or exc}): start one with "
                           "`ray start --head`, fix execution.address / RAY_ADDRESS, or set execution.address: "
                           "null to start a local one") from None
    if is_loopback(host):
        _setdefault(LOOPBACK)
        _apply_loopback()
    try:
        with _stderr_to_devnull(), _unless_set(JOIN_TRIES):
            ray.init(address=target, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FmlpipeError(f"could not join the Ray cluster at {target} ({first}): check that it is a Ray head "
                           "node (`ray status --address ...`) and that RAY_AUTH_MODE / RAY_AUTH_TOKEN match "
                           "it") from None
    return Connection(target, owned=True)


def _apply_loopback() -> None:
    """Ray reads its loopback switch at import: set it on the imported module as well."""
    from ray._private import ray_constants

    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0":
        ray_constants.ENABLE_RAY_CLUSTER = False


def disconnect(connection: Connection) -> None:
    """Let go of a connection :func:`connect` made: a local instance stops, a joined cluster
    stays as it was; a connection the process held before is left alone."""
    import ray

    if connection.owned and ray.is_initialized():
        ray.shutdown()
