"""The FedAvg CNN (McMahan et al., 2017): 1,663,370 parameters on 1x28x28 with 10 classes.

The 5x5 convolutions are padded by 2 so they keep the spatial size; only the two 2x2 pools
shrink it, which is what gives the paper's 64*7*7 inputs to the 512-unit layer on MNIST.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fmlpipe.models.shapes import conv_out, require_positive


def feature_hw(height: int, width: int) -> tuple[int, int]:
    """Side of the last pooled feature map for an input of ``height`` x ``width``."""

    def side(s: int) -> int:
        for _ in range(2):
            s = conv_out(conv_out(s, 5, padding=2), 2, stride=2)
        return s

    return require_positive((side(height), side(width)), "two 2x2 poolings need at least 4x4")


class FedAvgCNN(nn.Module):
    """conv5x5(32) -> ReLU -> pool -> conv5x5(64) -> ReLU -> pool -> fc 512 -> ReLU -> ``head``."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, height, width = input_shape
        h, w = feature_hw(height, width)
        self.conv1 = nn.Conv2d(channels, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(64 * h * w, 512)
        self.head = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, H, W] float in [0, 1] -> logits [B, num_classes]."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.head(x)
