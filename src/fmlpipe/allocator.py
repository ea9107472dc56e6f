"""Keep freed memory in the process for the next allocation instead of handing it back to the
system (glibc's ``mallopt``), so that a training step does not fault in fresh pages.

Each training step allocates the same activations and gradients, megabytes each at batch 64,
and frees them again. glibc returns freed memory at the top of its heap to the system once more
than its trim threshold lies free there, a few megabytes by default; the next step then faults
every page back in and the kernel zeroes it. One thread's FML step of the cnn at batch 64 took
about 2,000 such page faults, and with this setting none. That made the step about 10-15% faster
in fp32 and 4-8% in bf16 on a 2-core AMD EPYC (README, "Engines, precision and the benchmark").
The cost: the process's resident memory stays at its peak instead of shrinking after it; the
peak itself is the same.

Only the allocation of memory changes, never a computed value. Elsewhere than glibc (musl, macOS,
Windows) there is no ``mallopt`` and nothing is done; nor where the user set either threshold
through glibc's own environment variables (``ENV``), which glibc read when the process started.
Every process that trains calls :func:`keep_freed_memory` first: the CLI's (``fmlpipe.cli``)
and each Ray worker's (``fmlpipe.cluster.worker``).
"""

from __future__ import annotations

import ctypes
import os

# From glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

TRIM_THRESHOLD = 1 << 30  # free memory at the heap's top handed back only beyond 1 GiB
# Allocations from 32 MiB up, glibc's largest threshold, still get pages of their own (and give
# them back when freed); below that they come from the heap, where freed memory is reused.
MMAP_THRESHOLD = 32 << 20

ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
"""glibc's environment variables by which a user sets these thresholds themselves."""


def keep_freed_memory() -> bool:
    """Set glibc's trim and mmap thresholds for this process (its every thread); whether they
    were set (False where the user set one, where the C library has no ``mallopt``, or where it
    refused a value)."""
    if any(name in os.environ for name in ENV):  # glibc's own settings, not fmlpipe's: theirs win
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt answers 1 where it took the value; 0 where it did not (musl's stub always does)
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
