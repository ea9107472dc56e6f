"""Forward-pass cost of a model, for benchmarks: FLOPs = 2 x multiply-accumulates of its
convolution and linear layers (biases, activations, pooling and normalization not counted)."""

from __future__ import annotations

import torch
from torch import nn


def _macs(module: nn.Module, out: torch.Tensor) -> int:
    """Multiply-accumulates of one call, for a batch of one sample."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    assert isinstance(module, nn.Linear)
    return out.numel() * module.in_features


def flops_per_sample(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass on one (C, H, W) sample, counted by forward hooks.

    Runs a single zero sample in eval mode (BatchNorm must not update its statistics, nor see
    a batch of one in training mode) and restores the model's mode afterwards.
    """
    total = 0

    def hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * _macs(module, out)

    counted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in counted]
    was_training = model.training
    param = next(model.parameters())
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, dtype=param.dtype, device=param.device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
