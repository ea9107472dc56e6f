"""The C pool-and-ReLU kernel must give PyTorch's numbers bit for bit, and be used only where
it applies."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fmlpipe.models import native_pool
from fmlpipe.models.layers import pool_relu
from tests.models.test_layers import _forward_and_grad

NOT_BUILT = "the C kernel was not built: install a C compiler (apt-get install gcc) and re-run pip install -e ."
needs_kernel = pytest.mark.skipif(not native_pool.available(), reason=NOT_BUILT)


def test_the_kernel_is_built() -> None:
    # `make test` installs gcc (scripts/system-deps.sh) before pip builds the package, so the
    # kernel must exist; the other tests here would only be skipped without it.
    assert native_pool.available(), NOT_BUILT


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bit patterns in NCHW order: tells -0.0 from 0.0 and compares NaNs."""
    return t.contiguous().view(torch.int32 if t.dtype == torch.float32 else torch.int16)


def _same(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Bit for bit; in bfloat16 a NaN need only be a NaN: ATen's bfloat16 pooling keeps a NaN's
    payload in some shapes and writes the canonical 0x7FC0 in others."""
    if got.dtype == torch.float32:
        return torch.equal(_bits(got), _bits(want))
    nan = torch.isnan(want)
    return torch.equal(torch.isnan(got), nan) and torch.equal(_bits(got)[~nan], _bits(want)[~nan])


def _tricky(shape: tuple[int, int, int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Channels-last input full of ties, NaNs, infinities and signed zeros, and an upstream
    gradient with signed zeros."""
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    x = torch.round(torch.randn(shape, generator=g) * 2) / 2  # many ties
    flat = x.view(-1)
    flat[::97] = float("nan")
    flat[::89] = float("-inf")
    flat[::83] = -0.0
    flat[::79] = float("inf")
    up = torch.randn(n, c, h // 2, w // 2, generator=g)
    up.view(-1)[::7] = -0.0
    return x.contiguous(memory_format=torch.channels_last), up.contiguous(memory_format=torch.channels_last)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(64, 32, 24, 24), (10, 64, 8, 8), (7, 16, 25, 23), (3, 5, 4, 3), (2, 17, 9, 9)])
def test_same_bits_as_pytorch(shape: tuple[int, int, int, int], dtype: torch.dtype) -> None:
    x, up = (t.to(dtype) for t in _tricky(shape, seed=sum(shape)))
    want_out, want_grad = _forward_and_grad(lambda t: F.relu(F.max_pool2d(t, 2)), x, up)
    got_out, got_grad = _forward_and_grad(native_pool.pool_relu, x, up)
    assert _same(got_out, want_out) and _same(got_grad, want_grad)
    assert got_out.is_contiguous(memory_format=torch.channels_last)
    assert got_grad.is_contiguous(memory_format=torch.channels_last)
    assert got_out.stride() == want_out.stride() and got_grad.stride() == want_grad.stride()


@needs_kernel
def test_window_rules_by_hand() -> None:
    # One window per channel, values in row-major order; channels-last with 2 channels.
    windows = torch.tensor([
        [[0.5, 0.5], [0.5, -1.0]],  # tie: the first maximum wins
        [[1.0, float("nan")], [3.0, float("nan")]],  # NaN wins, the last NaN
        [[-3.0, -1.0], [-2.0, -4.0]],  # negative maximum: ReLU passes nothing
        [[-0.0, -1.0], [-2.0, -0.5]],  # maximum -0.0: ReLU keeps -0.0, passes nothing
    ])
    x = windows.view(2, 2, 2, 2).contiguous(memory_format=torch.channels_last)
    up = torch.tensor([2.0, 5.0, 7.0, 11.0]).view(2, 2, 1, 1).contiguous(memory_format=torch.channels_last)
    out, grad = _forward_and_grad(native_pool.pool_relu, x, up)
    assert out.flatten()[[0, 2, 3]].tolist() == [0.5, 0.0, -0.0]
    assert torch.isnan(out.flatten()[1])
    assert torch.signbit(out.flatten()[3])
    assert grad.reshape(4, 4).tolist() == [
        [2.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 5.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]


def _grad_fn_name(x: torch.Tensor) -> str:
    return type(pool_relu(x.requires_grad_(True)).grad_fn).__name__


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_used_for_channels_last_cpu_above_the_size_floor(dtype: torch.dtype) -> None:
    x = torch.randn(64, 32, 24, 24, dtype=dtype).contiguous(memory_format=torch.channels_last)
    assert _grad_fn_name(x) == "_PoolReluBackward"


@needs_kernel
def test_bfloat16_gradient_rounds_as_pytorch_does() -> None:
    # 0 + grad in bfloat16: -0.0 becomes +0.0, a NaN stays a NaN, as ATen's zero-fill-then-add
    # leaves them; an upstream NaN is not in the tricky inputs above
    x = torch.randn(64, 32, 24, 24, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last).abs()
    up = torch.randn(64, 32, 12, 12, dtype=torch.bfloat16)
    up.view(torch.int16).view(-1)[::5] = 0x7F81  # a NaN whose payload is not the canonical one
    up.view(-1)[1::5] = -0.0
    up = up.contiguous(memory_format=torch.channels_last)
    want_out, want_grad = _forward_and_grad(lambda t: F.relu(F.max_pool2d(t, 2)), x, up)
    got_out, got_grad = _forward_and_grad(native_pool.pool_relu, x, up)
    assert _same(got_out, want_out) and _same(got_grad, want_grad)
    assert torch.isnan(got_grad).sum() == torch.isnan(up).sum()  # each winner's NaN, once


@pytest.mark.parametrize("case", ["contiguous", "float64", "float16", "small", "one channel", "1x1 output"])
def test_pytorch_ops_elsewhere(case: str) -> None:
    shapes = {"small": (2, 4, 8, 8), "one channel": (256, 1, 24, 24), "1x1 output": (4096, 32, 2, 3)}
    shape = shapes.get(case, (64, 32, 24, 24))
    x = torch.randn(shape, dtype={"float64": torch.float64, "float16": torch.float16}.get(case, torch.float32))
    if case != "contiguous":
        x = x.contiguous(memory_format=torch.channels_last)
    assert _grad_fn_name(x) == "ReluBackward0"


def test_pytorch_ops_under_vmap() -> None:
    # Each slice is channels-last and large enough, so only the vmap check keeps it from the
    # kernel (which cannot take a batched tensor: vmap refuses even to ask its layout).
    x = torch.randn(3, 64, 12, 12, 8).permute(0, 1, 4, 2, 3)
    assert native_pool.fits(x[0]) or not native_pool.available()
    per_slice = torch.stack([F.relu(F.max_pool2d(s, 2)) for s in x])
    assert torch.equal(torch.func.vmap(pool_relu)(x), per_slice)
