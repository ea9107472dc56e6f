"""The stacked optimizers and clipping against torch's own, bit for bit on equal gradients."""

from __future__ import annotations

import pytest
import torch

from fmlpipe.config.schema import OptimizerParams
from fmlpipe.fl.engines.stacked_optim import StackedOptimizer, clip_per_client
from fmlpipe.fl.optim import make_optimizer


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_matches_torch_optim_bit_for_bit_and_leaves_inactive_clients_alone(name: str, momentum: float) -> None:
    """Bit for bit against torch's single-tensor implementation (what the stacked one copies);
    the fused optimizer the sequential engine uses agrees with it to float rounding."""
    opt = OptimizerParams(name=name, lr=0.05, momentum=momentum, weight_decay=0.01, state="per_round")
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    reference = [torch.nn.Parameter(t.clone()) for t in start]
    fused = [torch.nn.Parameter(t.clone()) for t in start]
    cls = torch.optim.SGD if name == "sgd" else torch.optim.Adam
    extra = {"momentum": momentum} if name == "sgd" else {}
    torch_opt = cls(reference, lr=0.05, weight_decay=0.01, foreach=False, **extra)
    fused_opt = make_optimizer(fused, opt, 0.05)
    stacked = [t.unsqueeze(0).repeat(3, *[1] * t.dim()) for t in start]
    ours = StackedOptimizer(stacked, opt, 0.05)
    for step in range(12):
        grads = [torch.randn(t.shape, generator=g) * 10.0 ** -(step % 4) for t in start]
        for p, grad in zip(reference, grads):
            p.grad = grad.clone()
        for p, grad in zip(fused, grads):
            p.grad = grad.clone()
        torch_opt.step()
        fused_opt.step()
        ours.step(2, [grad.unsqueeze(0).repeat(2, *[1] * grad.dim()) for grad in grads])  # client 2 idle
    for p, s, t in zip(reference, stacked, start):
        assert torch.equal(s[0], p.detach()) and torch.equal(s[1], p.detach())
        assert torch.equal(s[2], t)
    for p, f in zip(reference, fused):
        torch.testing.assert_close(f.detach(), p.detach(), rtol=1e-6, atol=1e-7)


def test_clipping_is_per_client_as_clip_grad_norm() -> None:
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(3, 4, 5, generator=g), torch.randn(3, 2, generator=g)]
    grads[0][1] *= 1e-3  # client 1's norm is below the limit: untouched
    expected = []
    for c in range(3):
        params = [torch.nn.Parameter(torch.zeros_like(t[c])) for t in grads]
        for p, t in zip(params, grads):
            p.grad = t[c].clone()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        expected.append([p.grad for p in params])
    clip_per_client(grads, 0.5)
    for c in range(3):
        for ours, theirs in zip(grads, expected[c]):
            torch.testing.assert_close(ours[c], theirs, rtol=1e-6, atol=0)
