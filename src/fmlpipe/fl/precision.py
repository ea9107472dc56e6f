"""Mixed precision (``federation.precision``): bf16 autocast for the forward passes of training
and evaluation, where the hardware computes bf16 natively. Master weights, optimizer state,
aggregation and personal states stay fp32; every loss is computed in fp32 (``fl.objectives``).

Without native bf16 (AVX512-BF16 or AMX on a CPU; a CUDA device that supports it) ``bf16`` is
refused in one line rather than emulated: an emulated bf16 run is slower than fp32 and its
numbers would differ from fp32's for nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from fmlpipe.errors import ParamsError

NATIVE_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo(field: str) -> str:
    """The first CPU's ``field`` in Linux's /proc/cpuinfo; empty where there is none."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return ""
    line = next((line for line in text.splitlines() if line.partition(":")[0].strip() == field), "")
    return line.partition(":")[2].strip()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux's /proc/cpuinfo; empty elsewhere)."""
    return set(_cpuinfo("flags").split())


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; empty elsewhere)."""
    return _cpuinfo("model name")


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse ``bf16`` on hardware without native bf16, naming the key and what is allowed."""
    if precision != "bf16":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ParamsError("federation.precision='bf16': this CUDA device has no bf16 support (allowed here: fp32)")
        return
    if not set(NATIVE_CPU_FLAGS) & cpu_flags():
        raise ParamsError("federation.precision='bf16' needs a CPU with native bf16 (AVX512-BF16 or AMX) or a "
                          "CUDA device; this CPU has neither, and emulated bf16 is slower than fp32 "
                          "(allowed here: fp32)")


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Forward passes inside run in bf16 where ``precision`` is ``bf16``; a no-op for ``fp32``."""
    if precision != "bf16":
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield
