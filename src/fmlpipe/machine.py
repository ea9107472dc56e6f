"""The machine a run or a benchmark ran on: the CPU's model and the features that decide which
kernels run, the cores, PyTorch's version and the GPU.

The same params and seed give the same bits on one machine, not across CPUs: machines of one
kind carry AVX2 on some and AVX-512 with bf16 on others, whose kernels round differently. So
every train stage records this with its timings (``runs/<algorithm>/timing.json``; the CPU and
PyTorch also as MLflow tags) and every benchmark with its figures: whoever compares two runs can
tell whether one machine made both.
"""

from __future__ import annotations

import platform
from typing import Any

import torch

from fmlpipe.fl.precision import NATIVE_CPU_FLAGS, cpu_flags, cpu_model

# The CPU features that decide which kernels run: AVX2 or AVX-512, and native bf16.
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", *NATIVE_CPU_FLAGS)


def describe() -> dict[str, Any]:
    """This machine, as runs and benchmarks record it. ``threads``: PyTorch's intra-op threads
    in the calling thread (the engines that compute a client on one thread give the same bits
    for any number)."""
    flags = cpu_flags()
    return {"platform": platform.platform(), "processor": platform.processor(), "cpu_model": cpu_model(),
            "cpu_flags": [f for f in KERNEL_FLAGS if f in flags], "torch": torch.__version__,
            "cpu_count": torch.multiprocessing.cpu_count(), "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
