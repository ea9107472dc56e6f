"""Freed memory kept for reuse (``fmlpipe.allocator``), and the CLI setting it up."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import fmlpipe.cli
from fmlpipe.allocator import ENV
from fmlpipe.cli import app

# Six 4 MiB blocks at once, every page written, freed, ten times over: the page faults of the
# last ten rounds. glibc hands the freed 24 MiB back to the system each time by default.
PROBE = """
import resource, sys
from fmlpipe.allocator import keep_freed_memory
kept = sys.argv[1] == "keep" and keep_freed_memory()

def once():
    held = [bytearray(4 << 20) for _ in range(6)]
    del held

for _ in range(3):
    once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    once()
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 10 * 6 * (4 << 20) // 4096  # 61,440 pages written in the last ten rounds

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")


def _probe(mode: str, env: dict[str, str] | None = None) -> tuple[bool, int]:
    """(whether the thresholds were set, the page faults of the last ten rounds)."""
    environ = {k: v for k, v in os.environ.items() if k not in ENV}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          env={**environ, **(env or {})})
    kept, faults = done.stdout.split()
    return kept == "True", int(faults)


@glibc_only
def test_freed_memory_is_reused_instead_of_faulted_in_again() -> None:
    assert _probe("default")[1] > PAGES // 2  # glibc's own thresholds give the blocks back
    kept, faults = _probe("keep")
    assert kept
    assert faults < 100


@glibc_only
@pytest.mark.parametrize("name", ENV)
def test_a_threshold_the_user_set_is_left_as_it_is(name: str) -> None:
    kept, faults = _probe("keep", {name: "131072"})  # glibc's default thresholds, set by hand
    assert not kept
    assert faults > PAGES // 2


def test_every_command_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    monkeypatch.setattr(fmlpipe.cli, "keep_freed_memory", lambda: calls.append(None) or True)
    assert CliRunner().invoke(app, ["stages"]).exit_code == 0
    assert len(calls) == 1
