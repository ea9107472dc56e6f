"""Test helpers for real servers on loopback: a free port, a process started in its own
process group and waited for over HTTP, a bounded stop, and a headless Chromium render.
Every wait is bounded; nothing listens beyond 127.0.0.1."""

from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from fmlpipe.cli.ui import stop as stop_group

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root on a closed network: without the background-networking flags Chromium
# keeps trying to reach Google services.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path  # the process's stdout and stderr

    def output(self, last: int = 4000) -> str:
        """The last ``last`` characters of its output (0: all of it)."""
        return self.log.read_text(errors="replace")[-last:]


def start(cmd: Sequence[str], url: str, log: Path, env: Mapping[str, str] | None = None,
          timeout: float = 90) -> Server:
    """Start ``cmd`` in its own process group and wait until ``url`` answers HTTP 200."""
    with open(log, "wb") as out:
        process = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    server = Server(process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop(server)  # children it may have left
            pytest.fail(f"{cmd[:4]} exited with {process.returncode} before {url} answered:\n{server.output()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:  # refused, reset, timed out, HTTP errors
            pass
        time.sleep(0.3)
    stop(server)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{server.output()}")


def stop(server: Server, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Stop the process group (SIGINT is what Ctrl-C sends), killing what is left after
    ``timeout``; returns the exit code of the process started."""
    return stop_group(server.process, sig, timeout)


def _chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, f"chromium {args} failed ({done.returncode}):\n{done.stderr[-4000:]}"
    return done.stdout


def render_dom(url: str, screenshot_path: Path) -> str:
    """The DOM of ``url`` after its scripts ran (15 s of virtual time), and a screenshot of it."""
    if not CHROMIUM.is_file():
        pytest.skip("headless chromium missing: run scripts/system-deps.sh --test (apt-get install chromium)")
    dom = _chromium("--dump-dom", url)
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    screenshot_path.unlink(missing_ok=True)
    _chromium(f"--screenshot={screenshot_path}", "--window-size=1400,900", url)
    return dom
