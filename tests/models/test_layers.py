"""``pool_relu`` must be an exact rewrite of the usual ``max_pool2d(relu(x), 2)``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fmlpipe.models.layers import pool_relu


def _forward_and_grad(fn, x: torch.Tensor, upstream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    leaf = x.clone().requires_grad_(True)
    out = fn(leaf)
    out.backward(upstream)
    return out.detach(), leaf.grad


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("side", [8, 9])  # an odd side: the last row and column are dropped
def test_same_values_and_gradients_as_relu_then_pool(memory_format: torch.memory_format, side: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, side, side, generator=g)
    # Windows the rewrite could get wrong: ties at the max, all negative, all zero, a zero max.
    x[0, 0, :2, :2] = torch.tensor([[0.5, 0.5], [0.5, -1.0]])
    x[0, 1, :2, :2] = torch.tensor([[-3.0, -1.0], [-2.0, -4.0]])
    x[0, 2, :2, :2] = 0.0
    x[0, 3, :2, :2] = torch.tensor([[0.0, -1.0], [-2.0, 0.0]])
    x = x.contiguous(memory_format=memory_format)
    upstream = torch.randn(6, 4, side // 2, side // 2, generator=g)

    want_out, want_grad = _forward_and_grad(lambda t: F.max_pool2d(F.relu(t), 2), x, upstream)
    got_out, got_grad = _forward_and_grad(pool_relu, x, upstream)

    assert torch.equal(got_out, want_out)
    assert torch.equal(got_grad, want_grad)
    # The tie sends the gradient to the window's first maximum only, in both orders.
    assert got_grad[0, 0, 0, 0] == upstream[0, 0, 0, 0] and got_grad[0, 0, 0, 1] == 0
    assert torch.all(got_grad[0, 1:, :2, :2] == 0)
