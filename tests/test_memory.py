"""Peak memory over a process's life and since a reset (``fmlpipe.memory``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fmlpipe.memory import CLEAR_REFS

PROBE = """
from fmlpipe.memory import process_peak_bytes, recent_peak_bytes, reset_recent_peak
block = bytearray(300 * 1024**2)  # touched: 300 MiB resident
del block
life, before = process_peak_bytes(), recent_peak_bytes()
reset_recent_peak()
print(life, before, recent_peak_bytes(), process_peak_bytes())
"""


@pytest.mark.skipif(not CLEAR_REFS.exists(), reason="no /proc/self/clear_refs: the recent peak cannot be reset")
def test_a_reset_leaves_out_the_peak_before_it() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    life, before, after, life_after = map(int, out.split())
    mib = 1024**2
    assert life >= before >= 300 * mib
    assert after < before - 250 * mib  # the 300 MiB block is gone from the recent peak
    assert life_after == life  # the whole life's peak stays
