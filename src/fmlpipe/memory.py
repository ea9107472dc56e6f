"""This process's peak resident memory: over its whole life, and since a chosen moment, so that
a measurement can leave out what came before it (loading the data peaks above what the rounds
then need).

Linux keeps a resettable peak as ``VmHWM`` (reset when ``5`` is written to
``/proc/self/clear_refs``); ``getrusage``'s peak is the whole life's and is never reset.
Elsewhere the peak since a moment is the whole life's."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def process_peak_bytes() -> int:
    """The peak resident memory since the process started. ``getrusage`` updates its figure
    lazily (it can trail ``VmHWM`` by a few pages), hence the larger of the two."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, _vm_hwm() or 0)  # Linux reports kB


def recent_peak_bytes() -> int:
    """The peak resident memory since :func:`reset_recent_peak` last ran."""
    hwm = _vm_hwm()
    return process_peak_bytes() if hwm is None else hwm


def _vm_hwm() -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return None


def reset_recent_peak() -> None:
    """Start :func:`recent_peak_bytes` afresh from the memory in use now (where the system can)."""
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text("5")
