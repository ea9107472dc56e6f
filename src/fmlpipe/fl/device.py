"""Resolve ``base.device``, make CPU runs bit-reproducible, and keep resident memory down."""

from __future__ import annotations

import ctypes

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
    # deterministic kernels where they exist and warns where none does. The switch is set
    # directly: torch.use_deterministic_algorithms also imports torch._inductor to set its
    # config, 3.8 s of every stage's start; only a compiled step needs that (see before_compile).
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    # That mode also fills every new uninitialized tensor with NaN: a debugging aid against
    # kernels that read memory they never wrote, which no fmlpipe number depends on (every
    # kernel writes its whole output). It cost 10% of a round: FML, cnn, batch 64, parallel
    # engine, 14.6 s with it and 13.0-13.1 without (PyTorch's pooling, 2 cores).
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    torch.backends.cudnn.benchmark = False


def before_compile() -> None:
    """Inductor follows the deterministic switch, as ``torch.use_deterministic_algorithms``
    would have made it (in the releases that have this config; older ones never touched it)."""
    import torch._inductor.config as inductor_config

    if hasattr(inductor_config, "deterministic"):
        inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    glibc keeps freed medium-sized blocks (a chunk of client states, a few MB each) for reuse,
    so one phase's peak (training) stacks on the next (evaluating 1,000 personal models) in
    resident memory. Called between the phases of a round; costs about a millisecond.
    """
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
        return libc
    except (OSError, AttributeError):
        return None


_libc = _load_libc()
