"""ResNet-8 for CIFAR-sized inputs (He et al., 2016, section 4.2 layout with one block per stage).

Normalization is ``BatchNorm2d``. Federated policy, applied by the engine's averaging: every
floating-point ``state_dict`` entry -- weights *and* BatchNorm ``running_mean``/``running_var`` --
is averaged like a weight (FedAvg-style, by the configured client weights); integer buffers
(``num_batches_tracked``) cannot be averaged and are taken from the first client. They are
unused anyway with the default ``momentum=0.1``.

In training mode BatchNorm updates its running statistics in place, so ``torch.func`` vmapping
over stacked states is exact in eval mode only; training under vmap must pass the buffers as
explicit outputs or keep one module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 32, 64)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual; a 1x1 conv-BN shortcut when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # out-of-place add and relu: torch.func transforms reject in-place ops on their inputs
        return F.relu(out + self.shortcut(x))


class ResNet8(nn.Module):
    """conv3x3(16)-BN-ReLU -> one BasicBlock per stage (16/32/64 channels, strides 1/2/2)
    -> global average pool -> ``head``.

    Stride-2 3x3 convolutions with padding 1 never shrink a side below 1, so any input fits.
    """

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels = input_shape[0]
        self.stem = nn.Conv2d(channels, WIDTHS[0], 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(WIDTHS[0])
        self.layer1 = BasicBlock(WIDTHS[0], WIDTHS[0], stride=1)
        self.layer2 = BasicBlock(WIDTHS[0], WIDTHS[1], stride=2)
        self.layer3 = BasicBlock(WIDTHS[1], WIDTHS[2], stride=2)
        self.head = nn.Linear(WIDTHS[2], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, H, W] float in [0, 1] -> logits [B, num_classes]."""
        x = F.relu(self.bn(self.stem(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        logits: torch.Tensor = self.head(x.mean(dim=(2, 3)))  # global average pool
        return logits
