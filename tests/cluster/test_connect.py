"""Starting or joining Ray: the bounds each gets. No Ray starts here: ``ray.init`` is replaced,
and the environment the bounds go into is a copy."""

from __future__ import annotations

import contextlib
import os
import socket
from types import SimpleNamespace
from typing import Any

import pytest

from fmlpipe.cluster.connect import connect

WAIT = "RAY_gcs_server_port_wait_time_s"  # join: Ray's tries at its GCS; local start: its wait for the GCS's port


def test_a_local_start_keeps_rays_wait_for_its_gcs_and_a_join_tries_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    from ray._private import ray_constants

    monkeypatch.setattr(os, "environ", {k: v for k, v in os.environ.items() if k != WAIT})
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", ray_constants.ENABLE_RAY_CLUSTER)
    seen: list[tuple[str, str | None]] = []

    def init(address: str, **_: Any) -> None:
        seen.append((address, os.environ.get(WAIT)))

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: SimpleNamespace(gcs_address="127.0.0.1:40000"))
    monkeypatch.setattr(socket, "create_connection", lambda *_, **__: contextlib.nullcontext())

    connect(None, 2, 0, {})
    connect("127.0.0.1:6379", 2, 0, {})
    # At 1 s a local start once timed out waiting for its GCS; joining keeps Ray's tries short.
    assert seen == [("local", None), ("127.0.0.1:6379", "1")]
    assert WAIT not in os.environ  # the join's bound is gone again
    os.environ[WAIT] = "45"  # the user's own value wins, for both
    connect(None, 2, 0, {})
    connect("127.0.0.1:6379", 2, 0, {})
    assert seen[2:] == [("local", "45"), ("127.0.0.1:6379", "45")]
