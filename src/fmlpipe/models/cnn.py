"""The FedAvg CNN (McMahan et al., 2017) in its two common forms.

``cnn``: unpadded 5x5 convolutions, as in most PyTorch FL code: 582,026 parameters and
8.5 MFLOP per forward on 1x28x28 (64*4*4 inputs to the 512-unit layer).
``cnn_same``: convolutions padded by 2 ('same'), the paper's TensorFlow model: 1,663,370
parameters and 24.5 MFLOP per forward (64*7*7 inputs to the 512-unit layer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fmlpipe.models.layers import pool_relu
from fmlpipe.models.shapes import conv_out, require_positive


def feature_hw(height: int, width: int, padding: int = 0) -> tuple[int, int]:
    """Side of the last pooled feature map for an input of ``height`` x ``width``."""

    def side(s: int) -> int:
        for _ in range(2):
            s = conv_out(conv_out(s, 5, padding=padding), 2, stride=2)
        return s

    need = "4x4" if padding == 2 else "16x16"
    return require_positive((side(height), side(width)), f"two 5x5 convs and 2x2 poolings need at least {need}")


class FedAvgCNN(nn.Module):
    """conv5x5(32) -> ReLU -> pool -> conv5x5(64) -> ReLU -> pool -> fc 512 -> ReLU -> ``head``."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, padding: int = 0):
        super().__init__()
        channels, height, width = input_shape
        h, w = feature_hw(height, width, padding)
        self.conv1 = nn.Conv2d(channels, 32, kernel_size=5, padding=padding)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=padding)
        self.fc1 = nn.Linear(64 * h * w, 512)
        self.head = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, H, W] float in [0, 1] -> logits [B, num_classes]."""
        x = pool_relu(self.conv1(x))
        x = pool_relu(self.conv2(x))
        x = F.relu(self.fc1(x.flatten(1)))
        logits: torch.Tensor = self.head(x)
        return logits
