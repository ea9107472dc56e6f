"""Resolve ``base.device`` and make CPU runs bit-reproducible."""

from __future__ import annotations

import torch

from fmlpipe.errors import ParamsError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ParamsError("base.device='cuda' but no CUDA device is available (allowed: auto, cpu, cuda)")
    return torch.device(name)


def make_deterministic() -> None:
    # CPU kernels are deterministic for a fixed thread count; on CUDA this picks the
    # deterministic kernels where they exist and warns where none does.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
