"""LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, as it is usually run today.

The first convolution is padded by 2 so a 28x28 input gets the 32x32 treatment of the original
(16x5x5 features); a 32x32 input then gives 16x6x6, sized from the input shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fmlpipe.models.layers import pool_relu
from fmlpipe.models.shapes import conv_out, require_positive


def feature_hw(height: int, width: int) -> tuple[int, int]:
    """Side of the last pooled feature map for an input of ``height`` x ``width``."""

    def side(s: int) -> int:
        s = conv_out(conv_out(s, 5, padding=2), 2, stride=2)
        return conv_out(conv_out(s, 5), 2, stride=2)

    return require_positive((side(height), side(width)), "LeNet-5 needs at least 12x12")


class LeNet5(nn.Module):
    """conv5x5(6) -> pool -> conv5x5(16) -> pool -> fc 120 -> fc 84 -> ``head``, ReLU between."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        channels, height, width = input_shape
        h, w = feature_hw(height, width)
        self.conv1 = nn.Conv2d(channels, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * h * w, 120)
        self.fc2 = nn.Linear(120, 84)
        self.head = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, H, W] float in [0, 1] -> logits [B, num_classes]."""
        x = pool_relu(self.conv1(x))
        x = pool_relu(self.conv2(x))
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        logits: torch.Tensor = self.head(x)
        return logits
