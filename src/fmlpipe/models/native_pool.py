"""``relu(max_pool2d(x, 2))`` by a small C kernel (``_pool_relu.c``) for channels-last CPU
training, in float32 or bfloat16 (bf16 autocast): the same values and gradients as PyTorch's ops,
bit for bit, in one pass each way.

Why: in an FML step of the cnn at batch 64 on one CPU thread, PyTorch's pooling and ReLU took
about a sixth of the time, and under bf16 autocast more than a quarter (bfloat16 max-pool
runs without a vectorized kernel). Its max-pool backward zero-fills the whole input gradient and
then scatters into it through int64 indices; the kernel keeps one byte per output and writes each
input gradient once. ``pip install`` builds it as an optional extension; it is called through
ctypes, which releases the GIL, so the parallel engine's worker threads run it concurrently.
Where it was not built (no C compiler at install time) :func:`fits` is always false and the
callers use PyTorch's ops: slower, with the same results.
"""

from __future__ import annotations

import ctypes
import importlib.util
from typing import Any

import torch
from torch.autograd.function import once_differentiable

Kernels = dict[torch.dtype, tuple[Any, Any]]
"""dtype -> (forward, backward) C functions."""


def _load() -> Kernels:
    """The built kernels by dtype; empty where the extension was not built or is stale."""
    spec = importlib.util.find_spec("fmlpipe.models._pool_relu")
    if spec is None or spec.origin is None:
        return {}
    try:
        lib = ctypes.CDLL(spec.origin)  # a plain shared library: it has no Python module init
        kernels = {torch.float32: (lib.pool_relu_forward, lib.pool_relu_backward),
                   torch.bfloat16: (lib.pool_relu_forward_bf16, lib.pool_relu_backward_bf16)}
    except (OSError, AttributeError):  # unloadable, or a stale build without these functions
        return {}
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for fn in (fn for pair in kernels.values() for fn in pair):
        fn.argtypes = [ptr, ptr, ptr, i64, i64, i64, i64]
        fn.restype = None
    return kernels


_KERNELS = _load()

# Below this many input elements PyTorch's two ops are faster: the kernel's fixed cost, about
# 0.1 ms per forward and backward (the Python autograd Function and the ctypes call), dominates.
# One thread, forward plus backward: 5x6x28x28 (23.5k) 0.13 ms against PyTorch's 0.08;
# 10x32x24x24 (184k) 0.19 against 0.27; 64x32x24x24 (1.2M) 0.96 against 1.73.
MIN_ELEMENTS = 1 << 16


def available() -> bool:
    """Whether the C kernel was built and loaded."""
    return bool(_KERNELS)


def fits(x: torch.Tensor) -> bool:
    """Whether :func:`pool_relu` takes ``x``: a float32 or bfloat16 [B, C, H, W] CPU tensor,
    channels-last."""
    if not _KERNELS or torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return False  # torch.compile and vmap/grad trace PyTorch's own ops
    return (x.device.type == "cpu" and x.dtype in _KERNELS and x.dim() == 4
            and x.numel() >= MIN_ELEMENTS and (x.shape[2] // 2) * (x.shape[3] // 2) > 1
            # channels-last, and unambiguously so, in and out: with one channel or a 1x1 map,
            # PyTorch's strides differ where they do not matter, and a later layer could see a
            # different memory format and pick another algorithm
            and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())


class _PoolRelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # ctx: a FunctionCtx that also carries input_shape
        n, c, h, w = x.shape
        y = torch.empty((n, c, h // 2, w // 2), dtype=x.dtype, memory_format=torch.channels_last)
        winner = torch.empty((n, h // 2, w // 2, c), dtype=torch.uint8)
        _KERNELS[x.dtype][0](x.data_ptr(), y.data_ptr(), winner.data_ptr(), n, h, w, c)
        ctx.save_for_backward(winner)
        ctx.input_shape = (n, c, h, w)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (winner,) = ctx.saved_tensors
        n, c, h, w = ctx.input_shape
        grad = grad.contiguous(memory_format=torch.channels_last)
        grad_in = torch.empty((n, c, h, w), dtype=grad.dtype, memory_format=torch.channels_last)
        _KERNELS[grad.dtype][1](grad.data_ptr(), winner.data_ptr(), grad_in.data_ptr(), n, h, w, c)
        return grad_in


def pool_relu(x: torch.Tensor) -> torch.Tensor:
    """``relu(max_pool2d(x, 2))`` for an ``x`` that :func:`fits`."""
    y: torch.Tensor = _PoolRelu.apply(x)
    return y
